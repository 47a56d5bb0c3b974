-- Intentionally empty: these tables hold the node's transactions and may have been created
-- by Java Tessera; reverting our migrations must never drop them.
SELECT 1;
