-- Drop the product_variant table and its trigger.
DROP TRIGGER product_variant_set_updated_at ON product_variant;
DROP TABLE product_variant;
