package audit

import (
	"fmt"
	"strings"
)

// Kind is what a record is of. Each kind has its own members: a member that does not
// belong to the kind must be empty, so that no record can pass for another kind (an admin
// action cannot be read as a data exchange of a route named "admin", nor a data exchange
// hide among admin actions).
type Kind string

const (
	// KindExchange is a data request that reached a route: route, provider (its pool) and
	// resource are named, whether it was then allowed, refused or failed.
	KindExchange Kind = "exchange"
	// KindCatalog is a served catalog read (GET /.well-known/govgate/catalog): answered by
	// the gateway itself, so it names no route, provider or resource.
	KindCatalog Kind = "catalog"
	// KindProof is a served read of the audit log by a department on a data listener
	// (GET /.well-known/govgate/checkpoint, /.well-known/govgate/proof/inclusion): answered
	// by the gateway itself, like the catalog, so it names no route, provider or resource.
	KindProof Kind = "proof"
	// KindRefusal is a data request refused before it reached a route or the catalog (it
	// could not be read, authenticated or routed): no route, provider or resource, and an
	// error.
	KindRefusal Kind = "refusal"
	// KindAdmin is a request to the admin API: who (client, and consumer holding the
	// administrator's certificate when the API speaks TLCP), the role the endpoint needs,
	// method, path, status and error; nothing of a data exchange.
	KindAdmin Kind = "admin"
)

// Sharing reports whether records of the kind are data sharing — what a sharing report
// counts: requests of the data listeners, not of the admin API.
func (k Kind) Sharing() bool {
	return k == KindExchange || k == KindCatalog || k == KindProof || k == KindRefusal
}

// checkKind refuses a record whose kind is unknown or whose members do not fit its kind.
func checkKind(r *Record) error {
	switch r.Kind {
	case KindExchange:
		if err := need(r.Kind, "route", r.Route, "provider", r.Provider, "resource", r.Resource); err != nil {
			return err
		}
		return none(r.Kind, "role", r.Role)
	case KindCatalog, KindProof:
		if r.Error != "" {
			return fmt.Errorf("kind %s: the record holds error %q; a refused %s read is of kind %s", r.Kind, r.Error, r.Kind, KindRefusal)
		}
		return none(r.Kind, "route", r.Route, "provider", r.Provider, "resource", r.Resource, "mode", r.Mode, "upstream", r.Upstream, "role", r.Role)
	case KindRefusal:
		if err := need(r.Kind, "error", r.Error); err != nil {
			return err
		}
		return none(r.Kind, "route", r.Route, "provider", r.Provider, "resource", r.Resource, "mode", r.Mode, "upstream", r.Upstream, "role", r.Role)
	case KindAdmin:
		if err := none(r.Kind, "route", r.Route, "provider", r.Provider, "resource", r.Resource, "mode", r.Mode, "upstream", r.Upstream,
			"agreement", r.Agreement, "purpose", r.Purpose, "content_digest", r.ContentDigest, "consumer.public_key", r.Consumer.PublicKey); err != nil {
			return err
		}
		if r.Decision != nil || r.Signature != nil || len(r.Fields) > 0 {
			return fmt.Errorf("kind %s: the record holds a decision, a consumer signature or released fields, which only data requests have", r.Kind)
		}
		return need(r.Kind, "role", r.Role)
	case "":
		return fmt.Errorf("the record has no kind (want %s, %s, %s, %s or %s)", KindExchange, KindCatalog, KindProof, KindRefusal, KindAdmin)
	}
	return fmt.Errorf("unknown record kind %q (want %s, %s, %s, %s or %s)", r.Kind, KindExchange, KindCatalog, KindProof, KindRefusal, KindAdmin)
}

// need reports the first of the named members that is empty.
func need(k Kind, nameValues ...string) error {
	for i := 0; i < len(nameValues); i += 2 {
		if nameValues[i+1] == "" {
			return fmt.Errorf("kind %s: the record must name its %s", k, nameValues[i])
		}
	}
	return nil
}

// none reports the named members that are set, which the kind does not have.
func none(k Kind, nameValues ...string) error {
	var set []string
	for i := 0; i < len(nameValues); i += 2 {
		if nameValues[i+1] != "" {
			set = append(set, fmt.Sprintf("%s %q", nameValues[i], nameValues[i+1]))
		}
	}
	if len(set) > 0 {
		return fmt.Errorf("kind %s: the record names %s, which records of kind %s do not have", k, strings.Join(set, ", "), k)
	}
	return nil
}

// inferKind gives a version 1 record, written before kinds, the kind it was written as:
// version 1 recorded an admin request as route "admin" of pool "admin". A data route named
// "admin" on a pool named "admin" is read as admin too — the ambiguity version 2 removes.
func inferKind(r *Record) Kind {
	switch {
	case r.Route == "admin" && r.Provider == "admin":
		return KindAdmin
	case r.Route != "":
		return KindExchange
	case r.Error != "":
		return KindRefusal
	}
	return KindCatalog
}
