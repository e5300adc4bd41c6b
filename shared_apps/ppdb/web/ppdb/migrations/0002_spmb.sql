-- introduced: 2.0.0
-- SPMB 2.0.0 (Permendikdasmen 3/2025, which replaced Permendikbud 1/2021): the routes are
-- renamed, and every registration and quota of 1.0.0 is carried across on this map (the same
-- as aturan.PETA_JALUR_2021):
--   zonasi            -> domisili
--   afirmasi          -> afirmasi
--   perpindahan_tugas -> mutasi
--   prestasi          -> prestasi
-- A migrated registration keeps its old route in jalur_asal and is marked 'migrasi-2.0.0'.
-- Quotas keep their seats: where they break the new bounds (e.g. afirmasi SMP now at least
-- 20%), the app lists the school as "belum sesuai" and refuses the announcement until an
-- admin fixes them. Announcements already published keep the routes they were published with.

ALTER TABLE pendaftaran DROP CONSTRAINT pendaftaran_jalur_check;
ALTER TABLE kuota DROP CONSTRAINT kuota_jalur_check;

ALTER TABLE pendaftaran
    ADD COLUMN jalur_asal text CHECK (jalur_asal IN ('zonasi', 'afirmasi', 'perpindahan_tugas', 'prestasi')),
    ADD COLUMN migrasi text NOT NULL DEFAULT '';

UPDATE pendaftaran SET
    jalur_asal = jalur,
    migrasi = 'migrasi-2.0.0',
    jalur = CASE jalur
        WHEN 'zonasi' THEN 'domisili'
        WHEN 'afirmasi' THEN 'afirmasi'
        WHEN 'perpindahan_tugas' THEN 'mutasi'
        WHEN 'prestasi' THEN 'prestasi'
    END;

UPDATE kuota SET jalur = CASE jalur
        WHEN 'zonasi' THEN 'domisili'
        WHEN 'afirmasi' THEN 'afirmasi'
        WHEN 'perpindahan_tugas' THEN 'mutasi'
        WHEN 'prestasi' THEN 'prestasi'
    END;

-- A route the map does not know would become NULL, which jalur's NOT NULL refuses: the
-- migration then fails (one transaction: nothing changes) instead of losing a route.
ALTER TABLE pendaftaran ADD CONSTRAINT pendaftaran_jalur_check
    CHECK (jalur IN ('domisili', 'afirmasi', 'mutasi', 'prestasi'));
ALTER TABLE kuota ADD CONSTRAINT kuota_jalur_check
    CHECK (jalur IN ('domisili', 'afirmasi', 'mutasi', 'prestasi'));
