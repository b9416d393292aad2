-- PostgreSQL's V18 narrows the lists' `ip_version` to smallint and their positions to integer.
-- SQLite stores every integer in as few bytes as its value needs: nothing to do here. This
-- version keeps both dialects at one schema version.
SELECT 1;
