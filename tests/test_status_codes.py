"""The status-code table, code by code: what each C2PA validation code does to a verdict.

Every code in ``credentials.status_codes.CODES`` is put, as a failure of a trusted
capture manifest, through ``verify.rules.decide`` - once in the active manifest and once
as an ingredient's validation delta - and the verdict must follow its category: only
integrity codes read as ``tampered``, and nothing but a clean manifest is ``authentic``.
"""

from __future__ import annotations

import pytest

from kinoseal.credentials.manifests import DIGITAL_CAPTURE
from kinoseal.credentials.reading import C2paEvidence, IngredientInfo
from kinoseal.credentials.status_codes import CODES, Category, category, markdown_table
from kinoseal.verify.report import ClassifierEvidence, Verdict, WatermarkEvidence
from kinoseal.verify.rules import decide

NO_WM = WatermarkEvidence(detected=False, p_value=0.5, frames_analyzed=10)
NO_CLS = ClassifierEvidence(available=False)

EXPECTED = {
    Category.INTEGRITY: Verdict.TAMPERED,
    Category.TRUST: Verdict.UNTRUSTED_SIGNATURE,
    Category.IDENTITY: Verdict.UNTRUSTED_SIGNATURE,
    # A capture claim whose manifest cannot be relied on stays "signed, not trusted".
    Category.MALFORMED: Verdict.UNTRUSTED_SIGNATURE,
    Category.UNAVAILABLE: Verdict.UNTRUSTED_SIGNATURE,
    Category.INCOMPLETE: Verdict.UNTRUSTED_SIGNATURE,
}
FAILING = sorted(c for c, cat in CODES.items() if cat in EXPECTED)
PASSING = sorted(c for c, cat in CODES.items() if cat in (Category.SUCCESS, Category.INFORMATIONAL))


def capture(failures: list[str], state: str = "Invalid", ingredients=()) -> C2paEvidence:
    return C2paEvidence(present=True, validation_state=state, digital_source_type=DIGITAL_CAPTURE,
                        failure_codes=failures, ingredients=list(ingredients),
                        signer={"common_name": "cam", "issuer": "Camera Co"})


@pytest.mark.parametrize("code", FAILING)
def test_failure_code_in_active_manifest(code):
    d = decide(capture([code]), NO_WM, NO_CLS)
    assert d.verdict is EXPECTED[CODES[code]], d.reason
    assert code in " ".join(d.evidence)
    assert d.status[CODES[code].value] == [code]


@pytest.mark.parametrize("code", FAILING)
def test_failure_code_as_ingredient_delta(code):
    # The active signer is trusted; only the ingredient's revalidation failed.
    d = decide(capture([f"ingredient:{code}"], state="Invalid"), NO_WM, NO_CLS)
    assert d.verdict is EXPECTED[CODES[code]], d.reason
    if CODES[code] is Category.INTEGRITY:
        assert "ingredient" in d.reason


@pytest.mark.parametrize("code", FAILING)
def test_failure_code_recorded_in_an_unrevalidated_ingredient(code):
    # Recorded results of an ingredient the reader could not validate again still count.
    ing = IngredientInfo("parent.mp4", "parentOf", None, DIGITAL_CAPTURE, None, [code])
    d = decide(capture([], state="Trusted", ingredients=[ing]), NO_WM, NO_CLS)
    assert d.verdict is EXPECTED[CODES[code]], d.reason


@pytest.mark.parametrize("code", sorted(c for c, cat in CODES.items() if cat in (Category.TRUST, Category.IDENTITY)))
def test_recorded_trust_code_of_a_revalidated_ingredient_yields_to_the_reader(code):
    # Recorded under the trust list of whoever added the ingredient; this reader re-validated
    # the ingredient's manifest (no delta), so its own trust configuration decides.
    ing = IngredientInfo("parent.mp4", "parentOf", "urn:p", DIGITAL_CAPTURE, None, [code], revalidated=True)
    assert decide(capture([], state="Trusted", ingredients=[ing]), NO_WM, NO_CLS).verdict is Verdict.AUTHENTIC


@pytest.mark.parametrize("code", sorted(c for c, cat in CODES.items() if cat is Category.INTEGRITY))
def test_recorded_integrity_code_of_a_revalidated_ingredient_still_counts(code):
    ing = IngredientInfo("parent.mp4", "parentOf", "urn:p", DIGITAL_CAPTURE, None, [code], revalidated=True)
    assert decide(capture([], state="Trusted", ingredients=[ing]), NO_WM, NO_CLS).verdict is Verdict.TAMPERED


@pytest.mark.parametrize("code", PASSING)
def test_success_and_informational_codes_are_never_failures(code):
    assert category(code) in (Category.SUCCESS, Category.INFORMATIONAL)
    assert category(f"ingredient:{code}") is category(code)


def test_no_code_is_listed_twice_with_the_prefix_or_as_unknown():
    assert all(not c.startswith("ingredient:") for c in CODES)
    assert Category.UNKNOWN not in set(CODES.values())


# Independent of the table: the split the issue asks for, named code by code.
@pytest.mark.parametrize("code", [
    "assertion.bmffHash.mismatch", "assertion.dataHash.mismatch", "assertion.boxesHash.mismatch",
    "claimSignature.mismatch", "assertion.hashedURI.mismatch", "kinoseal.manifest.unverifiable",
])
def test_integrity_codes_named_by_the_issue(code):
    assert category(code) is Category.INTEGRITY


@pytest.mark.parametrize("code", [
    "signingCredential.untrusted", "signingCredential.expired", "signingCredential.ocsp.revoked",
    "signingCredential.invalid", "cawg.x509.credential.untrusted",
])
def test_trust_codes_named_by_the_issue_never_tamper(code):
    assert category(code) not in (Category.INTEGRITY, Category.UNKNOWN)
    assert decide(capture([code, f"ingredient:{code}"]), NO_WM, NO_CLS).verdict is not Verdict.TAMPERED


# c2pa-rs validation_codes::log_kind: the codes it files as success or informational.
C2PA_RS_SUCCESS = [
    "claimSignature.validated", "claimSignature.insideValidity", "signingCredential.trusted",
    "signingCredential.ocsp.notRevoked", "timeStamp.trusted", "timeStamp.validated", "assertion.hashedURI.match",
    "assertion.dataHash.match", "assertion.bmffHash.match", "assertion.accessible", "assertion.boxesHash.match",
    "assertion.collectionHash.match", "ingredient.manifest.validated", "ingredient.claimSignature.validated",
]
C2PA_RS_INFORMATIONAL = [
    "signingCredential.ocsp.skipped", "signingCredential.ocsp.inaccessible", "timeStamp.untrusted",
    "timeStamp.outsideValidity", "timeStamp.mismatch", "timeStamp.malformed", "manifest.unknownProvenance",
    "ingredient.unknownProvenance", "algorithm.deprecated", "timeOfSigning.insideValidity",
]


@pytest.mark.parametrize("code", C2PA_RS_SUCCESS)
def test_c2pa_rs_success_codes(code):
    assert category(code) is Category.SUCCESS


@pytest.mark.parametrize("code", C2PA_RS_INFORMATIONAL)
def test_c2pa_rs_informational_codes(code):
    assert category(code) is Category.INFORMATIONAL


@pytest.mark.parametrize("code", ["com.example.brandNew.failure", "ingredient:com.example.other"])
def test_unknown_code_is_conservative_and_visible(code):
    assert category(code) is Category.UNKNOWN
    # On a trusted capture: never tampered, never authentic, and the report names it.
    d = decide(capture([code], state="Invalid"), NO_WM, NO_CLS)
    assert d.verdict is Verdict.UNTRUSTED_SIGNATURE
    assert any("Unclassified" in e and code in e for e in d.evidence)
    # On a manifest that claims nothing: still not tampered.
    plain = C2paEvidence(present=True, validation_state="Invalid", failure_codes=[code])
    assert decide(plain, NO_WM, NO_CLS).verdict is Verdict.UNTRUSTED_SIGNATURE


def test_markdown_table_lists_every_code_once():
    table = markdown_table()
    for code in CODES:
        assert table.count(f"`{code}`") == 1, code
