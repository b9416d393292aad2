-- connection_crypto: one row per connection with its IKE and IPsec algorithms side by side,
-- the shape most crypto questions ("which tunnels still use 3DES?") want. Same on every backend.
CREATE VIEW connection_crypto AS
SELECT c.pk, c.endpoint, c.project_id, c.id, c.name, c.status, c.style, c.vgw_id,
       i.ike_version,
       i.encryption_algorithm     AS ike_encryption_algorithm,
       i.authentication_algorithm AS ike_authentication_algorithm,
       i.dh_group                 AS ike_dh_group,
       i.lifetime_seconds         AS ike_lifetime_seconds,
       p.encryption_algorithm     AS ipsec_encryption_algorithm,
       p.authentication_algorithm AS ipsec_authentication_algorithm,
       p.pfs                      AS ipsec_pfs,
       p.lifetime_seconds         AS ipsec_lifetime_seconds
FROM connections c
LEFT JOIN ike_policies i ON i.connection_pk = c.pk
LEFT JOIN ipsec_policies p ON p.connection_pk = c.pk;

CREATE INDEX ike_policies_encryption ON ike_policies (encryption_algorithm);
CREATE INDEX ipsec_policies_encryption ON ipsec_policies (encryption_algorithm);
