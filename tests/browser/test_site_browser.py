"""The web catalog in a real browser: search, filters, navigation, language, keyboard, phone."""

from __future__ import annotations

import re
from typing import Any

from conftest import Console, shot
from playwright.sync_api import expect

PERMENDAGRI_83 = ("Peraturan Menteri Dalam Negeri Nomor 83 Tahun 2022 tentang Kode Klasifikasi Arsip di "
                  "Lingkungan Kementerian Dalam Negeri dan Pemerintah Daerah")


def visible_apps(page: Any) -> list[str]:
    return page.eval_on_selector_all("#daftar li[data-app]:not([hidden])", "els => els.map(e => e.dataset.app)")


def test_search_and_filters(page: Any, site_url: str) -> None:
    page.goto(site_url)
    form = page.locator("#saringan")
    expect(form).to_be_visible()
    assert visible_apps(page) == ["e-office", "pengaduan", "ppdb"]
    page.get_by_label("Cari aplikasi").fill("arsip")  # inside "kearsipan"
    expect(page.locator("#jumlah")).to_have_text("1 dari 3 aplikasi cocok")
    assert visible_apps(page) == ["e-office"]
    assert "q=arsip" in page.url
    page.get_by_label("Cari aplikasi").fill("tanda tangan elektronik")  # words anywhere, all must match
    assert visible_apps(page) == ["e-office"]
    page.get_by_label("Cari aplikasi").fill("")
    page.get_by_label("Layanan").select_option("publik")
    assert visible_apps(page) == ["pengaduan", "ppdb"]
    page.get_by_label("Layanan").select_option("")
    page.get_by_label("Regulasi").select_option(label=PERMENDAGRI_83)
    assert visible_apps(page) == ["e-office"]
    page.get_by_label("Donor").select_option("Kabupaten Buleleng")
    assert visible_apps(page) == []
    expect(page.get_by_text("Tidak ada aplikasi yang cocok.")).to_be_visible()
    page.get_by_role("button", name="Hapus saringan").click()
    expect(page.locator("#jumlah")).to_have_text("3 aplikasi")
    page.get_by_label("Jenis aplikasi").select_option("khusus")
    assert visible_apps(page) == ["ppdb"]
    page.get_by_label("Jenis aplikasi").select_option("umum")
    page.get_by_label("Domain").select_option("Pengaduan Masyarakat")
    assert visible_apps(page) == ["pengaduan"]
    shot(page, "index-filtered")
    page.reload()  # the filter state lives in the URL
    expect(page.get_by_label("Domain")).to_have_value("Pengaduan Masyarakat")
    assert visible_apps(page) == ["pengaduan"]


def test_navigation_to_app_page_and_sops(page: Any, site_url: str) -> None:
    page.goto(site_url)
    page.get_by_role("link", name="e-Office Persuratan Dinas").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("e-Office Persuratan Dinas")
    for section in ("Donor dan kontak", "Ketentuan berbagi", "Kebutuhan sistem", "Rilis", "Dokumentasi",
                    "publiccode.yml", "Mutu dokumentasi"):  # fmt: skip
        expect(page.get_by_role("heading", name=section, level=2, exact=True)).to_be_visible()
    expect(page.get_by_role("img", name="Logo e-Office Persuratan Dinas")).to_be_visible()
    expect(page.locator("pre code").first).to_contain_text("publiccodeYmlVersion")
    shot(page, "app-e-office")
    page.get_by_role("link", name="SOP Eskalasi", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("SOP Eskalasi Gangguan e-Office")
    expect(page.get_by_text("Penanggung jawab:")).to_be_visible()
    page.get_by_role("link", name="Panduan Instalasi").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Panduan Instalasi e-Office")
    page.get_by_role("link", name="SOP Backup bagian 5").click()
    page.wait_for_url(re.compile(r"sop-backup\.html#5-pemulihan$"))
    expect(page.locator('[id="5-pemulihan"]')).to_be_in_viewport()
    shot(page, "sop-backup")
    page.get_by_role("link", name="Regulasi", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Regulasi")
    page.get_by_role("link", name="e-Office Persuratan Dinas 1.1.0").first.click()
    page.wait_for_url(re.compile(r"apps/e-office/index\.html#rilis-1-1-0$"))


def test_language_switch(page: Any, site_url: str) -> None:
    page.goto(site_url + "apps/pengaduan/sop-backup.html")
    assert page.evaluate("document.documentElement.lang") == "id"
    page.get_by_role("link", name="English").click()
    page.wait_for_url("**/en/apps/pengaduan/sop-backup.html")
    expect(page.locator("html")).to_have_attribute("lang", "en")  # retried: the new page may still load
    expect(page.get_by_text("This document is written in Bahasa Indonesia by the donor.")).to_be_visible()
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Catalog").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("SPBE App Catalog")
    page.get_by_label("Search apps").fill("complaints")  # the English summary is searchable
    assert visible_apps(page) == ["pengaduan"]
    expect(page.locator("#jumlah")).to_have_text("1 of 3 apps match")
    shot(page, "en-index")
    page.get_by_role("link", name="Bahasa Indonesia").click()
    expect(page.locator("html")).to_have_attribute("lang", "id")
    expect(page.get_by_role("heading", level=1)).to_have_text("Katalog Aplikasi SPBE")


def test_keyboard_only(page: Any, site_url: str) -> None:
    page.goto(site_url)
    # The search form stays hidden until the script has loaded the search index; on a loaded
    # machine the Tabs below could otherwise run past a form that is not there yet.
    expect(page.locator("#saringan")).to_be_visible()
    page.keyboard.press("Tab")
    focused = page.evaluate("({text: document.activeElement.textContent, cls: document.activeElement.className})")
    assert focused == {"text": "Langsung ke isi", "cls": "skip-link"}
    expect(page.locator(".skip-link")).to_be_in_viewport()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "isi"
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("pengaduan")
    assert visible_apps(page) == ["pengaduan"]
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Pengaduan Masyarakat":
            break
    assert page.evaluate("document.activeElement.tagName") == "A"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pengaduan Masyarakat")
    for landmark in ("banner", "main", "contentinfo"):
        expect(page.get_by_role(landmark)).to_have_count(1)
    expect(page.get_by_role("navigation", name="Navigasi utama")).to_be_visible()


def test_phone_viewport_has_no_horizontal_scroll(browser: Any, site_url: str) -> None:
    console = Console()
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True,
                                  device_scale_factor=2)  # fmt: skip
    try:
        page = context.new_page()
        console.attach(page)
        for path in ("index.html", "apps/e-office/index.html", "apps/e-office/sop-risiko-keamanan.html",
                     "apps/e-office/manual-pengguna.html", "armada.html", "regulasi.html", "mutu.html",
                     "en/apps/pengaduan/index.html"):  # fmt: skip
            page.goto(site_url + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, (path, width)
            shot(page, "phone-" + path.replace("/", "-").removesuffix(".html"))
    finally:
        context.close()
    assert console.errors == []


def test_readable_without_javascript(browser: Any, site_url: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(site_url)
        expect(page.locator("#saringan")).to_be_hidden()
        expect(page.get_by_text("Pencarian dan saringan memerlukan JavaScript")).to_be_visible()
        assert page.locator("#daftar li[data-app]").count() == 3
        page.get_by_role("link", name="Pengaduan Masyarakat").click()
        expect(page.get_by_role("heading", name="Rilis", level=2)).to_be_visible()
        shot(page, "no-js-app")
    finally:
        context.close()
