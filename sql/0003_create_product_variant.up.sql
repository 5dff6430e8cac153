-- Create the product_variant table (priced, stocked variants of a product).
CREATE TABLE product_variant (
    id                 text PRIMARY KEY,
    product_id         text NOT NULL REFERENCES product (id) ON DELETE CASCADE,
    sku                text UNIQUE,
    title              text NOT NULL,
    price_amount       integer NOT NULL CHECK (price_amount >= 0),
    currency_code      text NOT NULL REFERENCES currency (code),
    inventory_quantity integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX product_variant_product_id_idx ON product_variant (product_id);

CREATE TRIGGER product_variant_set_updated_at
    BEFORE UPDATE ON product_variant
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
