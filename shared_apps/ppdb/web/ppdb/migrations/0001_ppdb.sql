-- introduced: 1.0.0
-- PPDB 1.0.0 (Permendikbud 1/2021): pengguna, sekolah dan kuota per jalur, pendaftaran dengan
-- jarak rumah-sekolah, pengumuman hasil seleksi.

CREATE TABLE users (
    id            serial PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{3,40}$'),
    nama          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'operator')),
    password_hash text NOT NULL,
    aktif         boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    token_hash   text PRIMARY KEY,
    user_id      integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sekolah (
    id            serial PRIMARY KEY,
    npsn          text NOT NULL UNIQUE CHECK (npsn ~ '^[0-9]{8}$'),
    nama          text NOT NULL,
    jenjang       text NOT NULL CHECK (jenjang IN ('SD', 'SMP', 'SMA')),
    alamat        text NOT NULL,
    lat           double precision NOT NULL,
    lon           double precision NOT NULL,
    daya_tampung  integer NOT NULL CHECK (daya_tampung > 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Seats per route (jalur); the regulation's bounds are checked by the app (aturan.py).
CREATE TABLE kuota (
    sekolah_id  integer NOT NULL REFERENCES sekolah (id) ON DELETE CASCADE,
    jalur       text NOT NULL CHECK (jalur IN ('zonasi', 'afirmasi', 'perpindahan_tugas', 'prestasi')),
    kursi       integer NOT NULL CHECK (kursi >= 0),
    PRIMARY KEY (sekolah_id, jalur)
);

CREATE TABLE pendaftaran (
    id             serial PRIMARY KEY,
    nomor          text NOT NULL UNIQUE,
    tahun          integer NOT NULL,
    nik            text NOT NULL CHECK (nik ~ '^[0-9]{16}$'),
    nisn           text CHECK (nisn ~ '^[0-9]{10}$'),
    nama           text NOT NULL,
    tanggal_lahir  date NOT NULL,
    alamat         text NOT NULL,
    lat            double precision NOT NULL,
    lon            double precision NOT NULL,
    sekolah_id     integer NOT NULL REFERENCES sekolah (id),
    jalur          text NOT NULL CHECK (jalur IN ('zonasi', 'afirmasi', 'perpindahan_tugas', 'prestasi')),
    jarak_m        integer NOT NULL CHECK (jarak_m >= 0),
    nilai          numeric(5, 2) CHECK (nilai >= 0 AND nilai <= 100),
    bukti          text NOT NULL DEFAULT '',
    status         text NOT NULL DEFAULT 'terdaftar' CHECK (status IN ('terdaftar', 'ditolak')),
    catatan        text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tahun, nik)
);
CREATE INDEX pendaftaran_seleksi ON pendaftaran (tahun, sekolah_id, jalur) WHERE status = 'terdaftar';

-- The announcement freezes the ranking of a year: who is accepted where, under which rule.
CREATE TABLE pengumuman (
    tahun          integer PRIMARY KEY,
    regulasi       text NOT NULL,
    diumumkan_at   timestamptz NOT NULL DEFAULT now(),
    diumumkan_oleh integer REFERENCES users (id)
);

CREATE TABLE pengumuman_hasil (
    tahun           integer NOT NULL REFERENCES pengumuman (tahun) ON DELETE CASCADE,
    pendaftaran_id  integer NOT NULL REFERENCES pendaftaran (id),
    sekolah_id      integer NOT NULL REFERENCES sekolah (id),
    jalur           text NOT NULL,
    peringkat       integer NOT NULL,
    diterima        boolean NOT NULL,
    PRIMARY KEY (tahun, pendaftaran_id)
);
