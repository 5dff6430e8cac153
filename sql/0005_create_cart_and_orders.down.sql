-- Drop the orders, cart_item and cart tables.
DROP TABLE orders;
DROP TABLE cart_item;
DROP TABLE cart;
