"""Every validation status code c2pa-rs defines, and what each one means for a verdict.

The C2PA validation model separates two questions that a single "Invalid" state
mixes up: *were the signed bytes changed?* (integrity) and *can the signer be
relied on?* (trust). kinoseal calls a clip ``tampered`` only for the first. The
table below is the whole mapping; ``verify.rules`` reads nothing else, and the
README ("Verdict rules") prints it.

Sources: c2pa-rs ``sdk/src/validation_results.rs`` (module ``validation_codes``,
the C2PA 2.x standard status codes), the CAWG identity codes c2pa-rs reports
(``sdk/src/identity``, ``sdk/src/crypto/cose/verifier.rs``), codes observed from
c2pa-python 0.38.1 (c2pa-rs 0.91.3) on the shared conformance files, and
kinoseal's own three codes.

A code that is not in the table is ``UNKNOWN``: it is never read as tampering
(an unexplained code is not proof that bytes changed), it always blocks
``authentic`` and any "trusted" wording, and the report names it as
unclassified. See ``category``.
"""

from __future__ import annotations

from enum import Enum


class Category(str, Enum):
    SUCCESS = "success"  # a check passed
    INFORMATIONAL = "informational"  # context only; never changes a verdict
    INTEGRITY = "integrity"  # the signed bytes or signature do not match: tampered
    TRUST = "trust"  # the signing credential cannot be relied on (untrusted/expired/revoked/invalid)
    IDENTITY = "identity"  # a CAWG identity assertion's credential cannot be relied on
    MALFORMED = "malformed"  # the manifest is not well-formed as its signer wrote it
    UNAVAILABLE = "unavailable"  # something needed for the check was not there to check (offline, remote)
    INCOMPLETE = "incomplete"  # only part of the asset was given (fragmented MP4 without fragments)
    UNKNOWN = "unknown"  # not in this table


# Which categories may never appear on a clip called ``authentic``.
BLOCKS_AUTHENTIC = frozenset(
    {Category.INTEGRITY, Category.TRUST, Category.IDENTITY, Category.MALFORMED, Category.UNAVAILABLE,
     Category.INCOMPLETE, Category.UNKNOWN}
)

_S, _I = Category.SUCCESS, Category.INFORMATIONAL
_INT, _TR, _ID = Category.INTEGRITY, Category.TRUST, Category.IDENTITY
_MAL, _UNA, _INC = Category.MALFORMED, Category.UNAVAILABLE, Category.INCOMPLETE

CODES: dict[str, Category] = {
    # -- success (c2pa-rs validation_codes) --
    "claimSignature.validated": _S,
    "claimSignature.insideValidity": _S,
    "signingCredential.trusted": _S,
    "signingCredential.ocsp.notRevoked": _S,
    "timeStamp.validated": _S,
    "timeStamp.trusted": _S,
    "assertion.hashedURI.match": _S,
    "assertion.dataHash.match": _S,
    "assertion.bmffHash.match": _S,
    "assertion.boxesHash.match": _S,
    "assertion.collectionHash.match": _S,
    "assertion.accessible": _S,
    "ingredient.manifest.validated": _S,
    "ingredient.claimSignature.validated": _S,
    # -- informational (c2pa-rs validation_codes) --
    "signingCredential.ocsp.skipped": _I,
    "signingCredential.ocsp.inaccessible": _I,
    # A time-stamp problem alone only means the signing time is unproven; the
    # signature itself is checked against the current clock instead.
    "timeStamp.mismatch": _I,
    "timeStamp.malformed": _I,
    "timeStamp.outsideValidity": _I,
    "timeStamp.untrusted": _I,
    "manifest.unknownProvenance": _I,
    "manifest.unreferenced": _I,
    "ingredient.unknownProvenance": _I,
    "algorithm.deprecated": _I,
    "timeOfSigning.insideValidity": _I,
    "assertion.dataHash.additionalExclusionsPresent": _I,
    "assertion.bmffHash.additionalExclusionsPresent": _I,
    "assertion.boxesHash.additionalExclusionsPresent": _I,
    # -- integrity: the bytes the signer covered are not the bytes here --
    "claimSignature.mismatch": _INT,
    "claimSignature.missing": _INT,
    "claim.missing": _INT,
    "assertion.hashedURI.mismatch": _INT,
    "assertion.missing": _INT,
    "assertion.undeclared": _INT,
    "assertion.notRedacted": _INT,
    "assertion.dataHash.mismatch": _INT,
    "assertion.bmffHash.mismatch": _INT,
    "assertion.boxesHash.mismatch": _INT,
    "assertion.boxesHash.unknownBox": _INT,
    "assertion.collectionHash.mismatch": _INT,
    "assertion.collectionHash.incorrectFileCount": _INT,
    "assertion.multiAssetHash.missingPart": _INT,
    "hashedURI.missing": _INT,
    "hashedURI.mismatch": _INT,
    "ingredient.hashedURI.mismatch": _INT,
    "ingredient.manifest.missing": _INT,
    "ingredient.manifest.mismatch": _INT,
    "ingredient.claimSignature.missing": _INT,
    "ingredient.claimSignature.mismatch": _INT,
    # -- trust: the signature matches, the credential behind it is not usable --
    "signingCredential.untrusted": _TR,
    "signingCredential.invalid": _TR,  # e.g. no allowed EKU: the certificate may not sign C2PA claims
    "signingCredential.expired": _TR,
    "signingCredential.ocsp.revoked": _TR,
    "signingCredential.ocsp.unknown": _TR,
    "claimSignature.outsideValidity": _TR,
    # -- CAWG identity assertions (c2pa-rs sdk/src/identity) --
    "cawg.identity.well-formed": _S,
    "cawg.identity.trusted": _S,
    "cawg.x509.signature.validated": _S,
    "cawg.x509.credential.trusted": _S,
    "cawg.ica.credential_valid": _S,
    "cawg.ica.untrusted_issuer": _ID,
    "cawg.identity.untrusted": _ID,
    "cawg.x509.credential.untrusted": _ID,
    "cawg.x509.credential.invalid": _ID,
    "cawg.x509.signature.outside_validity": _ID,
    "cawg.x509.algorithm.unsupported": _ID,
    "cawg.identity.sig_type.unknown": _ID,
    # The identity signature covers assertions by hash: a mismatch means bytes changed.
    "cawg.x509.signature.mismatch": _INT,
    "cawg.identity.assertion.mismatch": _INT,
    "cawg.identity.hard_binding_missing": _MAL,
    "cawg.identity.assertion.duplicate": _MAL,
    "cawg.identity.cbor.invalid": _MAL,
    "cawg.identity.pad.invalid": _MAL,
    # -- malformed: wrong as signed (the hashes over it still match), or not interpretable --
    "claim.malformed": _MAL,
    "claim.multiple": _MAL,
    "claim.hardBindings.missing": _MAL,
    "assertion.multipleHardBindings": _MAL,
    "claim.required.missing": _MAL,
    "claim.cbor.invalid": _MAL,
    "manifest.multipleParents": _MAL,
    "manifest.update.invalid": _MAL,
    "manifest.update.wrongParents": _MAL,
    "manifest.timestamp.invalid": _MAL,
    "manifest.timestamp.wrongParents": _MAL,
    "manifest.compressed.invalid": _MAL,
    "assertion.selfRedacted": _MAL,
    "assertion.required.missing": _MAL,
    "assertion.json.invalid": _MAL,
    "assertion.cbor.invalid": _MAL,
    "assertion.action.ingredientMismatch": _MAL,
    "assertion.action.redacted": _MAL,
    "assertion.action.malformed": _MAL,
    "assertion.action.redactionMismatch": _MAL,
    "assertion.dataHash.malformed": _MAL,
    "assertion.dataHash.redacted": _MAL,
    "assertion.bmffHash.malformed": _MAL,
    "assertion.boxesHash.malformed": _MAL,
    "assertion.cloud-data.hardBinding": _MAL,
    "assertion.cloud-data.actions": _MAL,
    "assertion.cloud-data.malformed": _MAL,
    "assertion.collectionHash.invalidURI": _MAL,
    "assertion.collectionHash.malformed": _MAL,
    "assertion.multiAssetHash.malformed": _MAL,
    "assertion.ingredient.malformed": _MAL,
    "assertion.metadata.disallowed": _MAL,
    "assertion.outsideManifest": _MAL,
    "assertion.timestamp.malformed": _MAL,
    "algorithm.unsupported": _MAL,
    "general.error": _MAL,
    # -- unavailable: could not be checked here (kinoseal never fetches) --
    "manifest.inaccessible": _UNA,
    "assertion.inaccessible": _UNA,
    # -- kinoseal's own codes --
    # The file has a C2PA box but no longer parses around it: bytes changed after signing.
    "kinoseal.manifest.unverifiable": _INT,
    # Chunk offsets that the hard binding leaves unbound (bmff.v2 exclusions, legacy v1) put a
    # chunk outside mdat or on top of another: the decoder would show other signed bytes.
    "kinoseal.bmffHash.chunkOffsets.mismatch": _INT,
    # An init segment read without its fragments: the content binding was not checked.
    "kinoseal.fragments.missing": _INC,
}

INGREDIENT_PREFIX = "ingredient:"


def category(code: str) -> Category:
    """The category of a status code; ``ingredient:``-prefixed codes (an ingredient's
    validation delta) have their code's category. Unlisted codes are ``UNKNOWN``."""
    bare = code[len(INGREDIENT_PREFIX):] if code.startswith(INGREDIENT_PREFIX) else code
    return CODES.get(bare, Category.UNKNOWN)


def of_category(codes: list[str], *cats: Category) -> list[str]:
    return [c for c in codes if category(c) in cats]


def markdown_table() -> str:
    """The table as the README shows it: one row per category, its codes, and the verdict effect."""
    effect = {
        Category.INTEGRITY: "`tampered`",
        Category.TRUST: "never `authentic`; a signed clip with no AI claim reads `untrusted_signature`",
        Category.IDENTITY: "never `authentic`; reported as an unverified identity, never tampering",
        Category.MALFORMED: "never `authentic`; the manifest is named malformed, not tampered",
        Category.UNAVAILABLE: "never `authentic`; the report says what could not be checked",
        Category.INCOMPLETE: "never `authentic`; the report says which part was missing",
        Category.SUCCESS: "none",
        Category.INFORMATIONAL: "none",
    }
    rows = ["| category | effect on the verdict | codes |", "|---|---|---|"]
    for cat in (Category.INTEGRITY, Category.TRUST, Category.IDENTITY, Category.MALFORMED,
                Category.UNAVAILABLE, Category.INCOMPLETE, Category.INFORMATIONAL, Category.SUCCESS):
        codes = sorted(c for c, k in CODES.items() if k is cat)
        rows.append(f"| {cat.value} | {effect[cat]} | " + ", ".join(f"`{c}`" for c in codes) + " |")
    rows.append("| unknown (not listed) | never `authentic`, never `tampered`; named as unclassified | any other code |")
    return "\n".join(rows)
