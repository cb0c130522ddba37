"""The audit bundle stands on its own: the mails are the bytes that were sent (whatever the
templates say today), and a script that is not the product's re-verifies the journal."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import sqlalchemy as sa

from core import settings as settings_module
from core.settings import get_settings
from db.session import unit_of_work
from grantflow.cli import main
from services.journal_key import journal_key
from tests.support import INNOSPRINT, scalar, sign_both

# Standard library only, run in an isolated interpreter: what an auditor could write from LISEZMOI.txt.
AUDITOR = r'''
import hashlib, hmac, json, sys, zipfile
archive, key = zipfile.ZipFile(sys.argv[1]), sys.argv[2].encode()
events = json.loads(archive.read("journal.json"))
problems, previous = [], "0" * 64
grant_id = json.loads(events[0]["body"])[0]
for n, e in enumerate(events, start=1):
    body = e["body"]
    fields = [grant_id, e["seq"], e["at"], e["business_date"], e["actor"], e["kind"], e["payload"], e["prev_hash"]]
    if body != json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")):
        problems.append(f"{e['seq']}: body does not restate the fields")
    if e["seq"] != n or e["prev_hash"] != previous:
        problems.append(f"{e['seq']}: broken link")
    expected = (hmac.new(key, body.encode(), hashlib.sha256) if e["alg"] == "hmac-sha256"
                else hashlib.sha256(body.encode())).hexdigest()
    if expected != e["hash"]:
        problems.append(f"{e['seq']}: hash")
    previous = e["hash"]
by_seq = {e["seq"]: e["hash"] for e in events}
anchored = 0
for line in archive.read("ancrages.jsonl").decode().splitlines():
    entry = json.loads(line)
    mac = entry.pop("mac")
    text = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    if hmac.new(key, text.encode(), hashlib.sha256).hexdigest() != mac:
        problems.append("anchor line signature")
    for gid, reference, seq, digest in entry["heads"]:
        if gid == grant_id:
            anchored += 1
            if by_seq.get(seq) != digest:
                problems.append(f"anchor {seq}")
for line in archive.read("courriels/SHA256SUMS").decode().splitlines():
    digest, name = line.split("  ")
    if hashlib.sha256(archive.read("courriels/" + name)).hexdigest() != digest:
        problems.append(name)
print("\n".join(problems) if problems else f"OK {len(events)} events, {anchored} anchors")
sys.exit(1 if problems else 0)
'''


def audit(bundle: Path, key: bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", "-c", AUDITOR, str(bundle), key.decode()],
                          capture_output=True, text=True, timeout=60)


def test_bundled_mails_are_the_bytes_sent_even_after_a_template_override(examples_loaded, tmp_path, monkeypatch):
    sign_both()
    assert main(["simulate", "--from", "2019-02-04", "--until", "2019-03-20"]) == 0
    outbox = {path.read_bytes() for path in get_settings().outbox_dir.glob("*.eml")}
    sent_to_casq = len(outbox)
    assert sent_to_casq >= 3  # reminders of report n°1 (before, due, late) at least
    # The authority rewords its reminders afterwards.
    override = tmp_path / "templates" / "casq"
    override.mkdir(parents=True)
    for part in ("txt", "html"):
        (override / f"reminder_before.{part}.j2").write_text("Texte réécrit après coup.\n", encoding="utf-8")
    (override / "reminder_before.subject.j2").write_text("Objet réécrit\n", encoding="utf-8")
    monkeypatch.setenv("GRANTFLOW_TEMPLATES_DIR", str(tmp_path / "templates"))
    settings_module.get_settings.cache_clear()
    target = tmp_path / "audit.zip"
    assert main(["audit", "bundle", INNOSPRINT, "--output", str(target)]) == 0
    with zipfile.ZipFile(target) as archive:
        bundled = {archive.read(n) for n in archive.namelist() if n.endswith(".eml")}
        assert "courriels/non-conserves.txt" not in archive.namelist()
    assert bundled == outbox
    assert not any(b"r\xc3\xa9\xc3\xa9crit" in mail or b"Objet r" in mail for mail in bundled)


def test_a_script_that_is_not_the_product_reverifies_the_bundle(examples_loaded, tmp_path):
    sign_both()
    assert main(["simulate", "--from", "2019-02-04", "--until", "2019-02-20"]) == 0
    target = tmp_path / "audit.zip"
    assert main(["audit", "bundle", INNOSPRINT, "--output", str(target)]) == 0
    key = journal_key(get_settings())
    with zipfile.ZipFile(target) as archive:
        events = json.loads(archive.read("journal.json"))
        assert "openssl dgst -sha256 -hmac" in archive.read("LISEZMOI.txt").decode()
        assert archive.read("integrite.txt").decode() == "chaîne du journal intègre et conforme aux ancrages\n"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert {e["alg"] for e in events} == {"hmac-sha256"}
    result = audit(target, key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"OK {len(events)} events")
    # The same script sees a forged copy, and the wrong key.
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(target) as source, zipfile.ZipFile(forged, "w") as copy:
        for name in source.namelist():
            data = source.read(name)
            if name == "journal.json":
                edited = json.loads(data)
                edited[1]["payload"]["votes"] = {"for": 76, "against": 0, "abstentions": 0}
                edited[1]["body"] = json.dumps(
                    [json.loads(edited[1]["body"])[0], edited[1]["seq"], edited[1]["at"], edited[1]["business_date"],
                     edited[1]["actor"], edited[1]["kind"], edited[1]["payload"], edited[1]["prev_hash"]],
                    sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                data = json.dumps(edited).encode()
            copy.writestr(name, data)
    result = audit(forged, key)
    assert result.returncode == 1 and "2: hash" in result.stdout
    assert audit(target, b"not-the-key").returncode == 1


def test_a_mail_sent_before_bytes_were_kept_is_not_rendered_again(examples_loaded, tmp_path):
    """A store migrated from revision 0001: its sent mails have no bytes; the bundle says so."""
    sign_both()
    assert main(["simulate", "--from", "2019-02-04", "--until", "2019-02-06"]) == 0
    with unit_of_work() as session:
        session.execute(sa.text("UPDATE messages SET raw = NULL, raw_sha256 = NULL"))
    assert scalar("SELECT count(*) FROM messages WHERE status = 'sent'") == 1
    target = tmp_path / "audit.zip"
    assert main(["audit", "bundle", INNOSPRINT, "--output", str(target)]) == 0
    with zipfile.ZipFile(target) as archive:
        assert not [n for n in archive.namelist() if n.endswith(".eml")]
        note = archive.read("courriels/non-conserves.txt").decode()
    assert "envoyé le 05/02/2019" in note and "contenu non conservé" in note
