# METADATA
# title: govgate sharing catalog (共享信息目录)
# description: |
#   The catalog entries a department may see: data.govgate.catalog.entries for
#   input {"subject": {"dept": …}, "zone": …}. Resources marked `none` are not listed, nor are
#   resources labelled above what the caller's zone and clearance could ever receive.
package govgate.catalog

import data.govgate.authz.rank

department := data.departments[input.subject.dept]

max_rank := min({rank[data.zones[input.zone].ceiling], rank[department.clearance]})

# The consumer's agreements by resource; a direct reference, so only its own are read.
held[id] := [a | some a in data.agreements[input.subject.dept][id]] if some id, _ in data.catalog

entries := [entry(id, r) |
	some id in sort(object.keys(data.catalog))
	r := data.catalog[id]
	r.sharing != "none"
	rank[r.classification] <= max_rank
]

entry(id, r) := object.union(listing(id, r), publication(r))

# publication is what the catalog says of a published dataset beyond its update frequency:
# the version now published and its size, where the publisher states them.
publication(r) := {k: v |
	"publish" in r.modes
	some k in {"version", "size_bytes"}
	v := object.get(r, k, "")
	not v in {"", 0}
}

listing(id, r) := {
	"id": id,
	"name": r.name,
	"owner": r.owner,
	"category": r.category,
	"sharing": r.sharing,
	"grade": r.grade,
	"classification": r.classification,
	"fields": sort([f | some f, spec in r.fields; rank[spec.label] <= max_rank]),
	"modes": r.modes,
	"update_frequency": r.update_frequency,
	"how_to_obtain": how_to_obtain(r),
	"agreements": sort([a.id | some a in held[id]]),
}

how_to_obtain(r) := "Shared with every registered department; no agreement is needed." if basic_unconditional(r)

how_to_obtain(r) := sprintf("Apply to %s for a sharing agreement (共享协议) stating the purpose, the fields and the mode; %s", [r.owner, object.get(r, "application", "")]) if {
	not basic_unconditional(r)
}

basic_unconditional(r) if {
	r.category == "basic"
	r.sharing == "unconditional"
}
