# Tests of govgate.authz: for every rule and every reason code, at least one input it
# allows and one it denies. `govgate policy test` runs them, and a revision goes live only
# when they pass. They run against the fixtures (fixtures/data.yaml), not the live data.
package govgate.authz_test

import data.govgate.authz

# decide evaluates the decision in the fixtures' world. A test that needs a changed world
# overrides the fixture: decide(x) with data.fixtures.catalog as patched.
decide(inp) := result if {
	result := authz.decision with input as inp
		with data.labels as data.fixtures.labels
		with data.zones as data.fixtures.zones
		with data.departments as data.fixtures.departments
		with data.catalog as data.fixtures.catalog
		with data.agreements as data.fixtures.agreements
		with data.modes as data.fixtures.modes
}

# A signed query by the social insurance bureau for the tax registration, under its
# agreement, from the external network to a provider on the internal network.
base := {
	"subject": {"dept": "110000-rensheju", "system": "pension-review", "cert_serial": "1a2b", "auth": "tlcp", "signed": true},
	"request": {"method": "GET", "path": "/tax/v1/taxpayers", "purpose": "social-insurance-check", "agreement": "AGR-2026-0042"},
	"route": {"id": "tax-query", "mode": "query", "source_zone": "external", "target_zone": "internal"},
	"resource": {"id": "tax.registration"},
	"time": "2026-11-29T10:00:00+08:00",
}

with_subject(s) := object.union(base, {"subject": object.union(base.subject, s)})

with_request(r) := object.union(base, {"request": object.union(base.request, r)})

with_route(r) := object.union(base, {"route": object.union(base.route, r)})

# Another resource, with no agreement named (basic information needs none).
with_resource(id) := object.union(base, {"resource": {"id": id}, "request": object.union(base.request, {"agreement": ""})})

codes(d) := {r.code | some r in d.reasons}

denied_with(inp, code) if {
	d := decide(inp)
	not d.allow
	code in codes(d)
}

allowed(inp) if {
	d := decide(inp)
	d.allow
	count(d.reasons) == 0
}

# ---- the contract's shape

test_decision_shape_allow if {
	d := decide(base)
	d.allow == true
	d.agreement == "AGR-2026-0042"
	d.max_label == "internal"
	d.require_signature == true
	d.obligations == {"mask": {"taxpayer_id": "keep-last-4"}, "quota": {"per_day": 10000, "per_minute": 600}}
}

test_decision_shape_deny if {
	d := decide(with_subject({"dept": "999999-nobody"}))
	d.allow == false
	d.fields == []
	d.agreement == ""
	d.obligations == {"mask": {}, "quota": {}}
	every r in d.reasons {
		r.message != ""
	}
}

# ---- DEPT_UNKNOWN: only registered departments

test_registered_department_allowed if allowed(with_resource("legal_entity.basic"))

test_unregistered_department_denied if denied_with(with_subject({"dept": "999999-nobody"}), "DEPT_UNKNOWN")

# A caller with no department (a plain listener) is told it presented none, and is not
# also cited for agreements a department "" would hold.
test_no_department_identity if {
	d := decide(with_subject({"dept": ""}))
	[r] := [r | some r in d.reasons; r.code == "DEPT_UNKNOWN"]
	contains(r.message, "no department identity")
	not contains(r.message, `""`)
	every r2 in d.reasons {
		not startswith(r2.code, "AGREEMENT_")
	}
}

# ---- basic information goes to every registered department, with no agreement

test_basic_to_any_department if {
	every dept in ["110000-gongan", "110000-minzheng", "110000-ghzrzyw"] {
		allowed(object.union(with_resource("population.basic"), {"subject": object.union(base.subject, {"dept": dept})}))
	}
}

test_basic_without_purpose_or_agreement if {
	inp := json.remove(with_resource("geographic.basic"), ["request/purpose", "request/agreement"])
	allowed(inp)
	d := decide(inp)
	d.agreement == ""
	d.fields == ["address", "address_code", "district", "latitude", "longitude"]
}

# ---- RESOURCE_UNKNOWN

test_catalogued_resource_allowed if allowed(base)

test_uncatalogued_resource_denied if denied_with(with_resource("population.secret_list"), "RESOURCE_UNKNOWN")

# ---- SHARING_NONE: 不予共享 is never shared, agreement or not

test_sharing_none_denied if denied_with(with_resource("population.case_records"), "SHARING_NONE")

test_sharing_none_denied_even_with_agreement if {
	agreements := {"110000-rensheju": {"population.case_records": [{
		"id": "AGR-X", "provider": "110000-gongan", "modes": ["query"], "purposes": ["social-insurance-check"],
		"fields": ["id_number"], "valid_from": "2026-01-01T00:00:00Z", "valid_to": "2027-01-01T00:00:00Z",
	}]}}
	denied_with(with_request({"agreement": "AGR-X"}), "AGREEMENT_NOT_FOUND") with data.fixtures.agreements as agreements
	inp := object.union(with_resource("population.case_records"), {"request": object.union(base.request, {"agreement": "AGR-X"})})
	denied_with(inp, "SHARING_NONE") with data.fixtures.agreements as agreements
}

test_sharing_unconditional_allowed if allowed(with_resource("legal_entity.basic"))

# ---- MODE_NOT_OFFERED

test_offered_mode_allowed if allowed(object.union(with_resource("geographic.basic"), {"route": object.union(base.route, {"mode": "publish"})}))

test_mode_not_offered_denied if denied_with(object.union(with_route({"mode": "publish"}), {"resource": {"id": "population.basic"}}), "MODE_NOT_OFFERED")

# ---- TIME_MISSING: no clock, no agreement check, no allow

test_time_given_allowed if allowed(base)

test_time_missing_denied if denied_with(object.remove(base, ["time"]), "TIME_MISSING")

# ---- ZONE_UNKNOWN

test_known_zones_allowed if allowed(with_route({"source_zone": "internal"}))

test_unknown_zone_denied if denied_with(with_route({"source_zone": "dmz"}), "ZONE_UNKNOWN")

# ---- LABEL_UNKNOWN: a label the policy cannot order is refused

test_known_labels_allowed if allowed(base)

test_unknown_label_denied if {
	catalog := json.patch(data.fixtures.catalog, [{"op": "replace", "path": "/tax.registration/classification", "value": "restricted"}])
	denied_with(base, "LABEL_UNKNOWN") with data.fixtures.catalog as catalog
}

test_unknown_clearance_denied if {
	departments := json.patch(data.fixtures.departments, [{"op": "replace", "path": "/110000-rensheju/clearance", "value": "vip"}])
	denied_with(base, "LABEL_UNKNOWN") with data.fixtures.departments as departments
}

# ---- LABEL_ABOVE_CEILING: the internet zone's ceiling is public

test_label_within_ceiling_allowed if allowed(object.union(with_resource("legal_entity.basic"), {"route": object.union(base.route, {"source_zone": "internet"})}))

test_label_above_ceiling_denied if denied_with(with_route({"source_zone": "internet"}), "LABEL_ABOVE_CEILING")

test_secret_never_crosses if {
	catalog := json.patch(data.fixtures.catalog, [{"op": "replace", "path": "/tax.registration/classification", "value": "secret"}])
	denied_with(with_route({"source_zone": "internal"}), "LABEL_ABOVE_CEILING") with data.fixtures.catalog as catalog
}

# ---- LABEL_ABOVE_CLEARANCE: the statistics bureau is cleared for public data only

test_label_within_clearance_allowed if allowed(object.union(with_resource("geographic.basic"), {"subject": object.union(base.subject, {"dept": "110000-tongji"})}))

test_label_above_clearance_denied if denied_with(object.union(with_subject({"dept": "110000-tongji"}), {"resource": {"id": "population.basic"}}), "LABEL_ABOVE_CLEARANCE")

# ---- AGREEMENT_REQUIRED: business information only under an agreement

test_business_with_agreement_allowed if allowed(base)

test_business_without_agreement_denied if denied_with(object.union(with_request({"agreement": ""}), {"subject": object.union(base.subject, {"dept": "110000-gongan"})}), "AGREEMENT_REQUIRED")

test_agreement_inferred_when_not_named if {
	inp := with_request({"agreement": ""})
	allowed(inp)
	d := decide(inp)
	d.agreement == "AGR-2026-0042"
}

# ---- AGREEMENT_NOT_FOUND: a named agreement must be one the consumer holds for the resource

test_named_agreement_allowed if allowed(base)

test_named_agreement_not_held_denied if denied_with(with_request({"agreement": "AGR-2026-0058"}), "AGREEMENT_NOT_FOUND")

test_named_agreement_checked_for_basic_too if denied_with(object.union(with_resource("population.basic"), {"request": object.union(base.request, {"agreement": "AGR-1999-0001"})}), "AGREEMENT_NOT_FOUND")

# ---- AGREEMENT_NOT_YET_VALID and AGREEMENT_EXPIRED: valid_from <= time < valid_to

test_agreement_in_force_allowed if allowed(object.union(with_request({"agreement": "AGR-2026-0107"}), {"resource": {"id": "enterprise.registration"}}))

test_agreement_not_yet_valid_denied if {
	inp := object.union(base, {
		"subject": object.union(base.subject, {"dept": "110000-minzheng"}),
		"request": {"method": "GET", "path": "/si", "purpose": "minimum-living-allowance-review", "agreement": "AGR-2027-0003"},
		"resource": {"id": "social_insurance.contributions"},
	})
	denied_with(inp, "AGREEMENT_NOT_YET_VALID")
	allowed(object.union(inp, {"time": "2027-01-01T00:00:00+08:00"}))
}

test_agreement_expired_denied if {
	inp := object.union(with_request({"agreement": "AGR-2024-0311"}), {"resource": {"id": "enterprise.registration"}})
	denied_with(inp, "AGREEMENT_EXPIRED")
	d := decide(inp)
	some r in d.reasons
	r.code == "AGREEMENT_EXPIRED"
	contains(r.message, "2026-06-30")
	allowed(object.union(inp, {"time": "2026-06-29T23:59:59+08:00"}))
}

test_agreement_ends_exactly_at_valid_to if {
	inp := object.union(with_request({"agreement": "AGR-2024-0311"}), {"resource": {"id": "enterprise.registration"}})
	denied_with(object.union(inp, {"time": "2026-06-30T00:00:00+08:00"}), "AGREEMENT_EXPIRED")
}

test_expired_agreement_skipped_when_not_named if {
	inp := object.union(with_request({"agreement": ""}), {"resource": {"id": "enterprise.registration"}})
	d := decide(inp)
	d.allow
	d.agreement == "AGR-2026-0107"
}

# Without a named agreement, a denial names the agreement in force the caller could use,
# not an expired one it also holds.
test_denial_without_agreement_names_the_one_in_force if {
	inp := object.union(with_request({"agreement": "", "purpose": ""}), {"resource": {"id": "enterprise.registration"}})
	d := decide(inp)
	not d.allow
	codes(d) == {"PURPOSE_REQUIRED"}
	some r in d.reasons
	contains(r.message, "AGR-2026-0107 for social-insurance-check")
	not contains(r.message, "AGR-2024-0311")
}

test_denial_without_agreement_faults_of_the_one_in_force_only if {
	inp := object.union(with_request({"agreement": "", "purpose": "fraud-hunting"}), {"resource": {"id": "enterprise.registration"}})
	d := decide(inp)
	not d.allow
	codes(d) == {"PURPOSE_NOT_COVERED"}
	every r in d.reasons {
		contains(r.message, "AGR-2026-0107")
	}
}

# With none in force, the expired one is still what is cited.
test_denial_without_agreement_cites_expired_when_none_in_force if {
	inp := object.union(with_request({"agreement": "", "purpose": "social-insurance-check"}), {"resource": {"id": "enterprise.registration"}, "time": "2031-01-01T00:00:00+08:00"})
	denied_with(inp, "AGREEMENT_EXPIRED")
}

# ---- AGREEMENT_MODE_NOT_COVERED

test_agreement_mode_allowed if allowed(base)

test_agreement_mode_not_covered_denied if denied_with(with_route({"mode": "exchange"}), "AGREEMENT_MODE_NOT_COVERED")

# ---- PURPOSE_REQUIRED and PURPOSE_NOT_COVERED: purpose limitation

test_purpose_covered_allowed if allowed(with_request({"purpose": "pension-eligibility"}))

test_purpose_missing_denied if denied_with(json.remove(base, ["request/purpose"]), "PURPOSE_REQUIRED")

test_purpose_empty_denied if denied_with(with_request({"purpose": ""}), "PURPOSE_REQUIRED")

test_purpose_not_covered_denied if denied_with(with_request({"purpose": "marketing"}), "PURPOSE_NOT_COVERED")

# ---- SIGNATURE_REQUIRED: important and core data, and agreements that say so

test_signed_allowed if allowed(base)

test_unsigned_under_signing_agreement_denied if denied_with(with_subject({"signed": false}), "SIGNATURE_REQUIRED")

test_unsigned_important_grade_denied if denied_with(object.union(with_subject({"signed": false}), {"resource": {"id": "population.basic"}}), "SIGNATURE_REQUIRED")

test_unsigned_general_grade_allowed if allowed(object.union(with_resource("legal_entity.basic"), {"subject": object.union(base.subject, {"signed": false})}))

# ---- fields: the intersection of the agreement's grant and the catalog, at allowed labels

test_fields_are_the_intersection if {
	d := decide(base)
	d.fields == ["name", "registered_on", "tax_status", "taxpayer_id"]
	not "credit_rating" in d.fields
}

test_fields_not_in_catalog_never_granted if {
	agreements := json.patch(data.fixtures.agreements, [{"op": "add", "path": "/110000-rensheju/tax.registration/0/fields/-", "value": "bank_account"}])
	d := decide(base) with data.fixtures.agreements as agreements
	d.allow
	not "bank_account" in d.fields
}

test_fields_above_max_label_withheld if {
	catalog := json.patch(data.fixtures.catalog, [{"op": "replace", "path": "/legal_entity.basic/fields/legal_representative/label", "value": "internal"}])
	inp := object.union(with_resource("legal_entity.basic"), {"route": object.union(base.route, {"source_zone": "internet"})})
	d := decide(inp) with data.fixtures.catalog as catalog
	d.allow
	not "legal_representative" in d.fields
	"name" in d.fields
}

test_denied_decision_releases_no_fields if {
	d := decide(with_route({"source_zone": "internet"}))
	not d.allow
	d.fields == []
}

# ---- obligations: masking and quotas come from the agreement

test_mask_from_agreement if {
	d := decide(object.union(with_request({"agreement": "AGR-2026-0107"}), {"resource": {"id": "enterprise.registration"}}))
	d.obligations.mask == {"legal_representative": "keep-first-1"}
	d.obligations.quota == {"per_day": 50000}
}

test_no_obligations_without_agreement if {
	d := decide(with_resource("legal_entity.basic"))
	d.allow
	d.obligations == {"mask": {}, "quota": {}}
}

# ---- the lowest usable agreement id is chosen, whatever the data's order

test_lowest_usable_agreement_chosen if {
	second := object.union(data.fixtures.agreements["110000-rensheju"]["tax.registration"][0], {"id": "AGR-2026-0001"})
	agreements := json.patch(data.fixtures.agreements, [{"op": "add", "path": "/110000-rensheju/tax.registration/-", "value": second}])
	d := decide(with_request({"agreement": ""})) with data.fixtures.agreements as agreements
	d.agreement == "AGR-2026-0001"
}

# ---- conditional sharing needs an agreement even for basic information

test_conditional_basic_needs_agreement if {
	catalog := json.patch(data.fixtures.catalog, [{"op": "replace", "path": "/legal_entity.basic/sharing", "value": "conditional"}])
	denied_with(with_resource("legal_entity.basic"), "AGREEMENT_REQUIRED") with data.fixtures.catalog as catalog
}

# ---- METHOD_NOT_ALLOWED: each sharing mode allows the methods data.modes lists

test_query_reads_allowed if {
	every m in ["GET", "HEAD", "POST"] {
		allowed(with_request({"method": m}))
	}
}

test_query_writes_denied if {
	every m in ["PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "TRACE", "CONNECT", "get", ""] {
		denied_with(with_request({"method": m}), "METHOD_NOT_ALLOWED")
	}
}

# The tax service exchanges enterprise registrations with the market regulator.
exchange_input := object.union(base, {
	"subject": object.union(base.subject, {"dept": "110000-shuiwu"}),
	"request": {"method": "GET", "path": "/enterprise/v1/batches", "purpose": "tax-registration", "agreement": "AGR-2025-0219"},
	"route": object.union(base.route, {"mode": "exchange"}),
	"resource": {"id": "enterprise.registration"},
})

test_exchange_methods_allowed if {
	every m in ["GET", "HEAD", "POST", "PUT"] {
		allowed(object.union(exchange_input, {"request": object.union(exchange_input.request, {"method": m})}))
	}
}

test_exchange_delete_and_patch_denied if {
	every m in ["DELETE", "PATCH"] {
		denied_with(object.union(exchange_input, {"request": object.union(exchange_input.request, {"method": m})}), "METHOD_NOT_ALLOWED")
	}
}

publish_input := object.union(with_resource("geographic.basic"), {"route": object.union(base.route, {"mode": "publish"})})

test_publish_reads_allowed if {
	every m in ["GET", "HEAD"] {
		allowed(object.union(publish_input, {"request": object.union(publish_input.request, {"method": m})}))
	}
}

test_publish_writes_denied if {
	every m in ["POST", "PUT", "DELETE"] {
		denied_with(object.union(publish_input, {"request": object.union(publish_input.request, {"method": m})}), "METHOD_NOT_ALLOWED")
	}
}

test_method_missing_denied if denied_with(json.remove(base, ["request/method"]), "METHOD_NOT_ALLOWED")

test_mode_without_methods_denied if {
	denied_with(base, "METHOD_NOT_ALLOWED") with data.fixtures.modes as {"publish": {"methods": ["GET"]}}
	d := decide(base) with data.fixtures.modes as {}
	not d.allow
	some r in d.reasons
	r.code == "METHOD_NOT_ALLOWED"
	contains(r.message, "data.modes")
}

test_method_denial_names_the_allowed_methods if {
	d := decide(with_request({"method": "DELETE"}))
	some r in d.reasons
	r.code == "METHOD_NOT_ALLOWED"
	contains(r.message, "GET, HEAD, POST")
}
