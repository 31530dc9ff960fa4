-- Indexes for the officers' reference sheet: invoices received by a party in a month, and red
-- reversals by issue date.
CREATE INDEX invoices_buyer_issued ON invoices (buyer_key, issued_at) WHERE kind <> 'red';
CREATE INDEX invoices_red_issued ON invoices (issued_at) WHERE kind = 'red';
