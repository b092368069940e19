package govgate.catalog_test

import data.govgate.catalog

# catalog_for lists the catalog in the fixtures' world (fixtures/data.yaml).
catalog_for(inp) := result if {
	result := catalog.entries with input as inp
		with data.labels as data.fixtures.labels
		with data.zones as data.fixtures.zones
		with data.departments as data.fixtures.departments
		with data.catalog as data.fixtures.catalog
		with data.agreements as data.fixtures.agreements
}

ids(entries) := {e.id | some e in entries}

test_catalog_lists_shareable_resources if {
	entries := catalog_for({"subject": {"dept": "110000-rensheju"}, "zone": "external"})
	"population.basic" in ids(entries)
	"tax.registration" in ids(entries)
}

test_catalog_hides_resources_not_for_sharing if {
	entries := catalog_for({"subject": {"dept": "110000-gongan"}, "zone": "internal"})
	not "population.case_records" in ids(entries)
}

test_catalog_hides_labels_above_zone if {
	entries := catalog_for({"subject": {"dept": "110000-rensheju"}, "zone": "internet"})
	"geographic.basic" in ids(entries)
	not "population.basic" in ids(entries)
}

test_catalog_lists_held_agreements if {
	entries := catalog_for({"subject": {"dept": "110000-rensheju"}, "zone": "external"})
	some e in entries
	e.id == "enterprise.registration"
	e.agreements == ["AGR-2024-0311", "AGR-2026-0107"]
	contains(e.how_to_obtain, "110000-scjgj")
}

test_catalog_unknown_department_sees_nothing if {
	entries := catalog_for({"subject": {"dept": "999999-nobody"}, "zone": "external"})
	count(entries) == 0
}

test_catalog_lists_published_version_and_size if {
	entries := catalog_for({"subject": {"dept": "110000-rensheju"}, "zone": "external"})
	some e in entries
	e.id == "legal_entity.published_list"
	e.modes == ["publish"]
	e.version == "2026-12-01"
	e.size_bytes == 30388951
	e.update_frequency == "daily"
}

test_catalog_states_no_version_where_none_is_published if {
	entries := catalog_for({"subject": {"dept": "110000-rensheju"}, "zone": "external"})
	some e in entries
	e.id == "population.basic"
	not e.version
	not e.size_bytes
}
