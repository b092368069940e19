# METADATA
# title: govgate sharing authorisation
# description: |
#   The decision for one exchange through the gateway: data.govgate.authz.decision.
#   Basic information (基础信息) goes to every registered department; business information
#   (业务信息) and conditionally shared resources only under a valid agreement for that
#   consumer, resource, mode and purpose; resources marked `none` never. Labels never
#   exceed the ceiling of either zone the data crosses or the consumer's clearance, and the
#   fields released are the intersection of what the agreement grants and what the catalog
#   holds at a label the consumer may receive. Each sharing mode allows the HTTP methods
#   data.modes lists for it.
package govgate.authz

# The decision document. Every field is always present, so the gateway can read it without
# guessing; allow is true only when no rule denied and every fact it rests on was found.
decision := {
	"allow": allow,
	"reasons": sort(deny),
	"fields": fields,
	"require_signature": require_signature,
	"obligations": {"mask": mask, "quota": quota},
	"agreement": agreement_id,
	"max_label": max_label,
}

default allow := false

allow if {
	count(deny) == 0
	department
	resource
	max_label != ""
	agreement_settled
}

# Either no agreement is involved, or one was chosen.
agreement_settled if not checks_agreement

agreement_settled if chosen

reason(code, message) := {"code": code, "message": message}

department := data.departments[input.subject.dept]

resource := data.catalog[input.resource.id]

default purpose := ""

purpose := input.request.purpose

declared := input.request.agreement if input.request.agreement != ""

# A direct reference, not object.get(data.agreements, …): passing data.agreements to a
# function would materialise every agreement on every evaluation.
default held := []

held := data.agreements[input.subject.dept][input.resource.id]

now_ns := time.parse_rfc3339_ns(input.time)

# ---------------------------------------------------------------------------------------
# Who may ask, and for what.

deny contains reason("DEPT_UNKNOWN", msg) if {
	not department
	input.subject.dept != ""
	msg := sprintf("department %q is not registered with the gateway; ask your security officer to register it", [input.subject.dept])
}

# No department at all: the caller presented no certificate naming one, which on a plain
# listener is every caller. Said as such, rather than as an unregistered department "".
deny contains reason("DEPT_UNKNOWN", msg) if {
	input.subject.dept == ""
	msg := "the request carries no department identity: call over a tlcp (or tls) listener with a certificate whose SAN URI is urn:govgate:dept:<code>"
}

deny contains reason("RESOURCE_UNKNOWN", msg) if {
	not resource
	msg := sprintf("resource %q is not in the sharing catalog (共享信息目录)", [input.resource.id])
}

deny contains reason("SHARING_NONE", msg) if {
	resource.sharing == "none"
	msg := sprintf("resource %q is marked not for sharing (不予共享)", [input.resource.id])
}

deny contains reason("MODE_NOT_OFFERED", msg) if {
	resource
	not input.route.mode in resource.modes
	msg := sprintf("resource %q is not offered by %s; it is offered by %s", [input.resource.id, input.route.mode, concat(", ", resource.modes)])
}

# ---------------------------------------------------------------------------------------
# Methods: each sharing mode allows a set of methods (data.modes), so that an agreement to
# query a resource never lets the consumer change or delete it. A mode with no methods in
# the data, or a request without a method, is refused.

default method := ""

method := input.request.method

default mode_methods := []

mode_methods := data.modes[input.route.mode].methods

deny contains reason("METHOD_NOT_ALLOWED", msg) if {
	count(mode_methods) > 0
	not method in mode_methods
	msg := sprintf("method %q is not allowed in the %s mode, which allows %s", [method, input.route.mode, concat(", ", mode_methods)])
}

deny contains reason("METHOD_NOT_ALLOWED", msg) if {
	count(mode_methods) == 0
	msg := sprintf("no method is allowed in the %s mode: data.modes does not list its methods", [input.route.mode])
}

deny contains reason("TIME_MISSING", "the request time is missing or not RFC 3339") if {
	not now_ns
}

# ---------------------------------------------------------------------------------------
# Classification: labels are ordered by data.labels, lowest first.

# label → position, built once per evaluation; a lookup costs less than a function call.
rank := {label: i | some i, label in data.labels}

default max_label := ""

# The highest label this exchange may carry: the lower of both zones' ceilings and the
# consumer's clearance, since the data ends up in the consumer's zone after crossing.
max_label := data.labels[max_rank]

max_rank := min({
	rank[data.zones[input.route.source_zone].ceiling],
	rank[data.zones[input.route.target_zone].ceiling],
	rank[department.clearance],
})

deny contains reason("ZONE_UNKNOWN", msg) if {
	some zone in [input.route.source_zone, input.route.target_zone]
	not data.zones[zone]
	msg := sprintf("zone %q is not configured", [zone])
}

deny contains reason("LABEL_UNKNOWN", msg) if {
	some label in [
		object.get(resource, "classification", "public"),
		object.get(department, "clearance", "public"),
		object.get(data.zones, [input.route.source_zone, "ceiling"], "public"),
		object.get(data.zones, [input.route.target_zone, "ceiling"], "public"),
	]
	not rank[label]
	msg := sprintf("label %q is not one of %s", [label, concat(", ", data.labels)])
}

deny contains reason("LABEL_ABOVE_CEILING", msg) if {
	some zone in [input.route.source_zone, input.route.target_zone]
	ceiling := data.zones[zone].ceiling
	rank[resource.classification] > rank[ceiling]
	msg := sprintf("resource %q is labelled %s, above the %s zone's ceiling %s", [input.resource.id, resource.classification, zone, ceiling])
}

deny contains reason("LABEL_ABOVE_CLEARANCE", msg) if {
	rank[resource.classification] > rank[department.clearance]
	msg := sprintf("resource %q is labelled %s, above department %s's clearance %s", [input.resource.id, resource.classification, input.subject.dept, department.clearance])
}

# ---------------------------------------------------------------------------------------
# Agreements (共享协议). Business information, and anything shared conditionally, needs one;
# an agreement the consumer names is checked even where none is needed, because the audit
# record will say the exchange happened under it.

needs_agreement if resource.category != "basic"

needs_agreement if resource.sharing == "conditional"

checks_agreement if needs_agreement

checks_agreement if declared

candidates contains a if {
	some a in held
	a.id == declared
}

candidates contains a if {
	not declared
	some a in held
}

# An agreement is usable when it is in force and covers the mode and the purpose. Each
# condition has a fault below that says which one failed; they are evaluated only when no
# agreement is usable, so an allowed exchange does not pay for explaining a deny.
usable contains a if {
	some a in candidates
	now_ns >= time.parse_rfc3339_ns(a.valid_from)
	now_ns < time.parse_rfc3339_ns(a.valid_to)
	input.route.mode in a.modes
	purpose in a.purposes
}

started(a) if now_ns >= time.parse_rfc3339_ns(a.valid_from)

not_ended(a) if now_ns < time.parse_rfc3339_ns(a.valid_to)

fault[a.id] contains reason("AGREEMENT_NOT_YET_VALID", msg) if {
	some a in candidates
	not started(a)
	msg := sprintf("agreement %s takes effect %s", [a.id, a.valid_from])
}

fault[a.id] contains reason("AGREEMENT_EXPIRED", msg) if {
	some a in candidates
	not not_ended(a)
	msg := sprintf("agreement %s ended %s; ask %s to renew it", [a.id, a.valid_to, a.provider])
}

fault[a.id] contains reason("AGREEMENT_MODE_NOT_COVERED", msg) if {
	some a in candidates
	not input.route.mode in a.modes
	msg := sprintf("agreement %s covers %s, not %s", [a.id, concat(", ", a.modes), input.route.mode])
}

fault[a.id] contains reason("PURPOSE_NOT_COVERED", msg) if {
	some a in candidates
	purpose != ""
	not purpose in a.purposes
	msg := sprintf("agreement %s covers the purposes %s, not %q", [a.id, concat(", ", a.purposes), purpose])
}

# The agreement the exchange happens under: the one named, or else the usable agreement
# with the lowest id, so that the choice never depends on the order of the data.
chosen := a if {
	some a in usable
	a.id == min({u.id | some u in usable})
}

default agreement_id := ""

agreement_id := chosen.id

# Candidates in force now. When the caller names no agreement and one is in force, a
# denial speaks of the agreements it could use, never of an expired or future one beside.
in_force contains a if {
	some a in candidates
	started(a)
	not_ended(a)
}

deny contains reason("PURPOSE_REQUIRED", msg) if {
	checks_agreement
	purpose == ""
	count(in_force) == 0
	msg := "this resource is shared under agreement: state the purpose (X-Govgate-Purpose)"
}

deny contains reason("PURPOSE_REQUIRED", msg) if {
	checks_agreement
	purpose == ""
	count(in_force) > 0
	offers := [sprintf("%s for %s", [a.id, concat(", ", a.purposes)]) | some a in in_force]
	msg := sprintf("this resource is shared under agreement: state the purpose (X-Govgate-Purpose); in force: %s", [concat("; ", sort(offers))])
}

deny contains reason("AGREEMENT_REQUIRED", msg) if {
	department
	needs_agreement
	not declared
	count(held) == 0
	msg := sprintf("resource %q is shared only under an agreement, and department %s holds none for it; apply to %s", [input.resource.id, input.subject.dept, resource.owner])
}

deny contains reason("AGREEMENT_NOT_FOUND", msg) if {
	department
	declared
	count(candidates) == 0
	msg := sprintf("department %s holds no agreement %s for resource %q", [input.subject.dept, declared, input.resource.id])
}

deny contains r if {
	checks_agreement
	not chosen
	count(in_force) == 0
	some faults in fault
	some r in faults
}

deny contains r if {
	checks_agreement
	not chosen
	some a in in_force
	some r in fault[a.id]
}

# ---------------------------------------------------------------------------------------
# What is released, and on which conditions.

# Fields the catalog holds at a label this exchange may carry.
catalog_fields contains name if {
	some name, spec in resource.fields
	rank[spec.label] <= max_rank
}

granted := {f | some f in chosen.fields} & catalog_fields if chosen

granted := catalog_fields if not chosen

# Nothing is released on a deny, so a denied decision names no fields.
default fields := []

fields := sort(granted) if allow

default require_signature := false

require_signature if chosen.require_signature == true

require_signature if resource.grade in {"important", "core"}

deny contains reason("SIGNATURE_REQUIRED", msg) if {
	require_signature
	not input.subject.signed == true
	msg := sprintf("resource %q requires an SM2 request signature (Signature-Input, Signature, Content-Digest)", [input.resource.id])
}

default mask := {}

mask := object.get(chosen, "mask", {})

default quota := {}

quota := object.get(chosen, "quota", {})
