-- Drop the customer table.
DROP TABLE customer;
