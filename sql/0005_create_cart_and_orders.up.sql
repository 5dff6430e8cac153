-- Create the cart, cart_item and orders tables.
CREATE TABLE cart (
    id          text PRIMARY KEY,
    customer_id text REFERENCES customer (id),
    region_id   text NOT NULL REFERENCES region (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX cart_customer_id_idx ON cart (customer_id);

CREATE TABLE cart_item (
    id         text PRIMARY KEY,
    cart_id    text NOT NULL REFERENCES cart (id) ON DELETE CASCADE,
    variant_id text NOT NULL REFERENCES product_variant (id),
    quantity   integer NOT NULL CHECK (quantity > 0),
    UNIQUE (cart_id, variant_id)
);

CREATE INDEX cart_item_variant_id_idx ON cart_item (variant_id);

CREATE TABLE orders (
    id          text PRIMARY KEY,
    display_id  bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    customer_id text NOT NULL REFERENCES customer (id),
    region_id   text NOT NULL REFERENCES region (id),
    total       integer NOT NULL CHECK (total >= 0),
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'completed', 'canceled')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX orders_customer_id_idx ON orders (customer_id);
