"""A workbook printed by LibreOffice, read back: what the printing tests share."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path


def pdf_pages(path: Path, tmp_path: Path) -> tuple[list[str], list[tuple[float, float]]]:
    """The first line of each printed page (spaces collapsed) and each page's size."""
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pdf = tmp_path / (path.stem + ".pdf")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    pages = [p.strip() for p in text.split("\f") if p.strip()]
    heads = [re.sub(r"\s+", " ", p.splitlines()[0]) for p in pages]
    info = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", str(len(pages)), str(pdf)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts \(A4\)", info)
    return heads, [(float(w), float(h)) for w, h in sizes]
