-- The default visibility: every rep sees the prospects and active clients they manage.
INSERT INTO visibility_rules (position, rep_id, effect, match_account_manager, statuses)
VALUES (1, NULL, 'allow', 1, 'prospect,active');
