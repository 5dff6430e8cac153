-- Create the product table and the set_updated_at() trigger function that maintains updated_at.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE product (
    id          text PRIMARY KEY,
    handle      text NOT NULL UNIQUE,
    title       text NOT NULL,
    description text,
    status      text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER product_set_updated_at
    BEFORE UPDATE ON product
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
