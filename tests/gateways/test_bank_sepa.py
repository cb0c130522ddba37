"""pain.001 payment files: content, XSD validity, one transaction per key across runs."""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
import xmlschema

from gateways.bank import OrderOutcome, PaymentOrder
from gateways.sepa_file import SepaFileGateway, sepa_text

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
XSD = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.03.xsd"
WORKER = Path(__file__).with_name("_bank_worker.py")
KEY = "CASQ-2018-44208A-V1"


def order(key: str = KEY, amount: str = "35000.00") -> PaymentOrder:
    return PaymentOrder(key=key, amount=Decimal(amount), creditor_name="Faubourg Numérique",
                        iban="FR76 3000 6000 0112 3456 7890 189", bic="AGRIFRPPXXX",
                        remittance="Subvention Innosprint n°1 – délibération du 27/11/2018",
                        execution_date=date(2019, 5, 31))


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "sepa"


def gateway(outbox: Path) -> SepaFileGateway:
    return SepaFileGateway(outbox, debtor_name="Communauté d'agglomération du Saint-Quentinois",
                           debtor_iban="FR1420041010050500013M02606", debtor_bic="PSSTFRPPLIL",
                           clock=lambda: datetime(2019, 5, 20, 10, 30))


def files(outbox: Path) -> list[str]:
    return sorted(p.name for p in outbox.glob("*.xml"))


def transactions(path: Path) -> list[dict[str, str]]:
    root = ET.parse(path).getroot()
    return [{
        "end_to_end": tx.findtext("p:PmtId/p:EndToEndId", namespaces=NS),
        "amount": tx.findtext("p:Amt/p:InstdAmt", namespaces=NS),
        "currency": tx.find("p:Amt/p:InstdAmt", NS).get("Ccy"),
        "creditor": tx.findtext("p:Cdtr/p:Nm", namespaces=NS),
        "iban": tx.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS),
        "bic": tx.findtext("p:CdtrAgt/p:FinInstnId/p:BIC", namespaces=NS),
        "remittance": tx.findtext("p:RmtInf/p:Ustrd", namespaces=NS),
    } for tx in root.iterfind(".//p:CdtTrfTxInf", NS)]


def test_a_payment_run_writes_one_valid_pain001_file(outbox):
    outcomes = gateway(outbox).order([order(), order("CASQ-2018-44208A-V2", "5000.50")],
                                     batch_id="paiements-2019-05")

    assert outcomes == [OrderOutcome(KEY, "accepted", reference="paiements-2019-05.xml"),
                        OrderOutcome("CASQ-2018-44208A-V2", "accepted",
                                     reference="paiements-2019-05.xml")]
    assert files(outbox) == ["paiements-2019-05.xml"]
    path = outbox / "paiements-2019-05.xml"
    assert transactions(path) == [
        {"end_to_end": KEY, "amount": "35000.00", "currency": "EUR", "creditor": "Faubourg Numerique",
         "iban": "FR7630006000011234567890189", "bic": "AGRIFRPPXXX",
         "remittance": "Subvention Innosprint no1 - deliberation du 27/11/2018"},
        {"end_to_end": "CASQ-2018-44208A-V2", "amount": "5000.50", "currency": "EUR",
         "creditor": "Faubourg Numerique", "iban": "FR7630006000011234567890189",
         "bic": "AGRIFRPPXXX", "remittance": "Subvention Innosprint no1 - deliberation du 27/11/2018"},
    ]
    root = ET.parse(path).getroot()
    assert root.findtext(".//p:GrpHdr/p:MsgId", namespaces=NS) == "paiements-2019-05"
    assert root.findtext(".//p:GrpHdr/p:CreDtTm", namespaces=NS) == "2019-05-20T10:30:00"
    assert root.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=NS) == "2"
    assert root.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS) == "40000.50"
    assert root.findtext(".//p:PmtInf/p:ReqdExctnDt", namespaces=NS) == "2019-05-31"
    assert root.findtext(".//p:DbtrAcct/p:Id/p:IBAN", namespaces=NS) == "FR1420041010050500013M02606"
    assert root.findtext(".//p:Dbtr/p:Nm", namespaces=NS) == "Communaute d'agglomeration du Saint-Quentinois"
    xmlschema.XMLSchema(str(XSD)).validate(str(path))  # the bank's schema, checked again here


def test_ordering_a_key_again_writes_nothing_new(outbox):
    gateway(outbox).order([order()], batch_id="paiements-2019-05")
    before = (outbox / "paiements-2019-05.xml").read_bytes()

    again = gateway(outbox).order([order()], batch_id="paiements-2019-05-bis")
    same_batch = gateway(outbox).order([order()], batch_id="paiements-2019-05")

    assert again == same_batch == [OrderOutcome(KEY, "accepted", reference="paiements-2019-05.xml")]
    assert files(outbox) == ["paiements-2019-05.xml"]
    assert (outbox / "paiements-2019-05.xml").read_bytes() == before


def test_a_rerun_with_old_and_new_keys_writes_only_the_new_ones(outbox):
    gateway(outbox).order([order("K-1")], batch_id="run")
    outcomes = gateway(outbox).order([order("K-1"), order("K-2", "250.00")], batch_id="run")

    assert [(o.key, o.reference) for o in outcomes] == [("K-1", "run.xml"), ("K-2", "run.2.xml")]
    assert files(outbox) == ["run.2.xml", "run.xml"]  # the first file is never overwritten
    assert [t["end_to_end"] for t in transactions(outbox / "run.xml")] == ["K-1"]
    assert [(t["end_to_end"], t["amount"]) for t in transactions(outbox / "run.2.xml")] == [("K-2", "250.00")]


def test_lookup_reads_the_folder(outbox):
    gateway(outbox).order([order()], batch_id="paiements-2019-05")
    fresh = gateway(outbox)  # another process, after a crash
    assert fresh.lookup(KEY) == OrderOutcome(KEY, "accepted", reference="paiements-2019-05.xml")
    assert fresh.lookup("CASQ-2018-44208A-V9") is None
    assert gateway(outbox.parent / "empty").lookup(KEY) is None


def test_two_processes_put_each_key_in_exactly_one_file(outbox, tmp_path):
    keys = [f"K-{n:02d}" for n in range(8)]
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(WORKER), "sepa", str(outbox), str(go), *keys],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    go.touch()
    outputs = [p.communicate(timeout=30) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]

    first, second = (json.loads(out) for out, _ in outputs)
    assert first == second
    seen = [t["end_to_end"] for name in files(outbox) for t in transactions(outbox / name)]
    assert sorted(seen) == keys


def test_sepa_text_keeps_to_the_sepa_character_set():
    assert sepa_text("Créative Cluster « Saison n°3 » & co €", 140) == "Creative Cluster Saison no3 co EUR"
    assert sepa_text("x" * 80, 70) == "x" * 70
