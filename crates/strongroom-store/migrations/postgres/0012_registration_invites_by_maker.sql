-- 0012: a freeze or a deletion revokes the registration invitations the account made
-- (`registration_invites.created_by_id`), and a purge forgets the addresses they named: both
-- look invitations up by their maker, which this index serves.
CREATE INDEX registration_invites_created_by ON registration_invites(created_by_id);
