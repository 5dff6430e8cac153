-- Create the customer table, with emails unique regardless of case.
CREATE TABLE customer (
    id         text PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    first_name text,
    last_name  text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX customer_email_lower_idx ON customer (lower(email));
