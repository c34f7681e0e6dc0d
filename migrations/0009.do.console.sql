-- What the web console's certificate list pages by (src/ledger/inventory.ts), so a page costs the
-- same at a million rows as at a hundred:
-- - issued_at: the default order (newest first) and the issuance-per-day chart. It only ever grows
--   at its right edge, so an issuance pays almost nothing for it.
-- - (provisioner, issued_at) replaces (provisioner): one index as before, now also in issue order,
--   so "this provisioner's certificates, newest first" reads one range instead of sorting them all.
-- - serving: the CA's own HTTPS certificates (one a day or so), which the overview's counts
--   leave out; with them in an index of their own, those counts read indexes only.
-- - subject: the name-prefix search and the sort by name.
CREATE INDEX certificates_issued_at ON certificates (issued_at);
DROP INDEX certificates_provisioner;
CREATE INDEX certificates_provisioner_issued_at ON certificates (provisioner, issued_at);
CREATE INDEX certificates_subject ON certificates (subject);
CREATE INDEX certificates_serving ON certificates (not_after, issued_at) WHERE method = 'serving';
