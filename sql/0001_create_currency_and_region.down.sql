-- Drop the region and currency tables.
DROP TABLE region;
DROP TABLE currency;
