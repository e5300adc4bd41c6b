-- introduced: 1.1.0
-- e-Office 1.1.0: Permendagri Nomor 83 Tahun 2022 tentang Kode Klasifikasi Arsip di
-- Lingkungan Kementerian Dalam Negeri dan Pemerintah Daerah, and UU 43/2009 Pasal 40 ayat (4)
-- (klasifikasi arsip, jadwal retensi arsip, sistem klasifikasi keamanan dan akses arsip).
-- Every letter gets kode_klasifikasi, klasifikasi_keamanan and retensi. No row is deleted.

CREATE TABLE klasifikasi_arsip (
    kode            text PRIMARY KEY CHECK (kode ~ '^[0-9]{3}(\.[0-9]{1,3}){0,4}$'),
    nama            text NOT NULL,
    retensi_aktif   integer NOT NULL CHECK (retensi_aktif >= 0),
    retensi_inaktif integer NOT NULL CHECK (retensi_inaktif >= 0),
    nasib_akhir     text NOT NULL CHECK (nasib_akhir IN ('musnah', 'permanen', 'dinilai_kembali'))
);

-- Pokok masalah (main groups) of the kode klasifikasi arsip. The retention values are
-- DEFAULTS to be replaced by the Pemda's own Jadwal Retensi Arsip (admin: PUT
-- /api/v1/klasifikasi/<kode>); 'dinilai_kembali' makes sure nothing is destroyed by default.
INSERT INTO klasifikasi_arsip (kode, nama, retensi_aktif, retensi_inaktif, nasib_akhir) VALUES
    ('000', 'Umum', 2, 3, 'dinilai_kembali'),
    ('100', 'Pemerintahan', 2, 3, 'dinilai_kembali'),
    ('200', 'Politik', 2, 3, 'dinilai_kembali'),
    ('300', 'Keamanan dan Ketertiban', 2, 3, 'dinilai_kembali'),
    ('400', 'Kesejahteraan Rakyat', 2, 3, 'dinilai_kembali'),
    ('500', 'Perekonomian', 2, 3, 'dinilai_kembali'),
    ('600', 'Pekerjaan Umum dan Ketenagaan', 2, 3, 'dinilai_kembali'),
    ('700', 'Pengawasan', 2, 3, 'dinilai_kembali'),
    ('800', 'Kepegawaian', 2, 3, 'dinilai_kembali'),
    ('900', 'Keuangan', 2, 3, 'dinilai_kembali');

-- Defaults keep INSERTs written for the 1.0.0 schema working (rollback safety).
ALTER TABLE letters
    ADD COLUMN kode_klasifikasi     text NOT NULL DEFAULT '000',
    ADD COLUMN klasifikasi_keamanan text NOT NULL DEFAULT 'biasa'
        CHECK (klasifikasi_keamanan IN ('biasa', 'terbatas', 'rahasia', 'sangat_rahasia')),
    ADD COLUMN retensi_aktif        integer NOT NULL DEFAULT 2,
    ADD COLUMN retensi_inaktif      integer NOT NULL DEFAULT 3,
    ADD COLUMN nasib_akhir          text NOT NULL DEFAULT 'dinilai_kembali'
        CHECK (nasib_akhir IN ('musnah', 'permanen', 'dinilai_kembali')),
    ADD COLUMN klasifikasi_sumber   text NOT NULL DEFAULT 'input';

-- Backfill, derived from what 1.0.0 stored:
--  * kode_klasifikasi: the letter's 1.0.0 'kode' when it already is a kode klasifikasi
--    (e.g. '800.1.2'), else '000' (Umum);
--  * klasifikasi_keamanan: 'rahasia' when the 1.0.0 'sifat' was 'rahasia', else 'biasa';
--  * retensi: from the main group (first digit + '00') of kode_klasifikasi;
--  * klasifikasi_sumber = 'migrasi-1.1.0' marks rows for the arsiparis to review.
UPDATE letters SET
    kode_klasifikasi = CASE WHEN kode ~ '^[0-9]{3}(\.[0-9]{1,3}){0,4}$' THEN kode ELSE '000' END,
    klasifikasi_keamanan = CASE WHEN sifat = 'rahasia' THEN 'rahasia' ELSE 'biasa' END,
    klasifikasi_sumber = 'migrasi-1.1.0';

UPDATE letters AS l SET
    retensi_aktif = k.retensi_aktif,
    retensi_inaktif = k.retensi_inaktif,
    nasib_akhir = k.nasib_akhir
FROM klasifikasi_arsip AS k
WHERE k.kode = substr(l.kode_klasifikasi, 1, 1) || '00';

CREATE INDEX letters_klasifikasi ON letters (kode_klasifikasi);
