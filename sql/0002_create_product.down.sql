-- Drop the product table, its trigger and the set_updated_at() trigger function.
DROP TRIGGER product_set_updated_at ON product;
DROP TABLE product;
DROP FUNCTION set_updated_at();
