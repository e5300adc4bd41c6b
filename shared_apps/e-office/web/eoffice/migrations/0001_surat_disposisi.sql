-- introduced: 1.0.0
-- e-Office 1.0.0: pengguna, surat masuk/keluar, penomoran, disposisi, tanda tangan elektronik.

CREATE TABLE users (
    id            serial PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{3,40}$'),
    nama          text NOT NULL,
    jabatan       text NOT NULL DEFAULT '',
    role          text NOT NULL CHECK (role IN ('admin', 'sekretariat', 'pejabat', 'staf')),
    password_hash text NOT NULL,
    aktif         boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    token_hash   text PRIMARY KEY,
    user_id      integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);

-- One row per (tahun, jenis): the row lock taken by INSERT .. ON CONFLICT DO UPDATE
-- serialises concurrent numbering, so two letters never get the same nomor urut.
CREATE TABLE letter_counters (
    tahun    integer NOT NULL,
    jenis    text NOT NULL,
    last_seq integer NOT NULL,
    PRIMARY KEY (tahun, jenis)
);

CREATE TABLE letters (
    id              serial PRIMARY KEY,
    jenis           text NOT NULL CHECK (jenis IN ('masuk', 'keluar')),
    nomor           text NOT NULL,
    seq             integer NOT NULL,
    tahun           integer NOT NULL,
    kode            text NOT NULL,
    unit            text NOT NULL,
    tanggal         date NOT NULL,
    perihal         text NOT NULL,
    pengirim        text NOT NULL DEFAULT '',
    nomor_asal      text NOT NULL DEFAULT '',
    tujuan          text NOT NULL DEFAULT '',
    sifat           text NOT NULL DEFAULT 'biasa'
                    CHECK (sifat IN ('biasa', 'segera', 'sangat_segera', 'rahasia')),
    isi             text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'draf'
                    CHECK (status IN ('draf', 'diterima', 'ditandatangani', 'diarsipkan')),
    penandatangan_id integer REFERENCES users (id),
    created_by      integer NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (jenis, tahun, seq),
    UNIQUE (jenis, nomor)
);
CREATE INDEX letters_jenis_tanggal ON letters (jenis, tanggal DESC);

CREATE TABLE dispositions (
    id          serial PRIMARY KEY,
    letter_id   integer NOT NULL REFERENCES letters (id) ON DELETE CASCADE,
    parent_id   integer REFERENCES dispositions (id),
    dari_id     integer NOT NULL REFERENCES users (id),
    kepada_id   integer NOT NULL REFERENCES users (id),
    instruksi   text NOT NULL,
    batas_waktu date,
    status      text NOT NULL DEFAULT 'baru'
                CHECK (status IN ('baru', 'dibaca', 'diproses', 'selesai')),
    catatan     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispositions_letter ON dispositions (letter_id, id);
CREATE INDEX dispositions_kepada ON dispositions (kepada_id, status);

CREATE TABLE signing_keys (
    key_id         text PRIMARY KEY,
    public_key     text NOT NULL,
    sealed_private text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE signatures (
    id             serial PRIMARY KEY,
    letter_id      integer NOT NULL UNIQUE REFERENCES letters (id) ON DELETE RESTRICT,
    kode           text NOT NULL UNIQUE,
    key_id         text NOT NULL REFERENCES signing_keys (key_id),
    content_json   text NOT NULL,
    digest         text NOT NULL,
    signature      text NOT NULL,
    signer_id      integer NOT NULL REFERENCES users (id),
    signed_at      timestamptz NOT NULL DEFAULT now()
);
