-- Create the currency and region tables (a region sells in one currency).
CREATE TABLE currency (
    code   text PRIMARY KEY CHECK (code ~ '^[a-z]{3}$'),
    symbol text NOT NULL,
    name   text NOT NULL
);

CREATE TABLE region (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    currency_code text NOT NULL REFERENCES currency (code)
);

CREATE INDEX region_currency_code_idx ON region (currency_code);
