-- "No segment" is one value everywhere (docs/glossary.md): a first assignment's transition comes from 'unassigned',
-- the id a customer has while no model exists. Transitions written before 0.2.0 said '' there. Idempotent: a second
-- run finds no '' left.
UPDATE transitions SET from_segment = 'unassigned' WHERE from_segment = '';
