package main

import (
	"fmt"
	"slices"
	"strings"

	coordinator "github.com/tccsuite/tccsuite/coordinator/app"
	"github.com/tccsuite/tccsuite/internal/conf"
	inventory "github.com/tccsuite/tccsuite/services/inventory/app"
	order "github.com/tccsuite/tccsuite/services/order/app"
	payment "github.com/tccsuite/tccsuite/services/payment/app"
)

// section is one generated table of a README.
type section struct {
	name, body string
}

// service is a business service's configuration and the prefix of its own variables.
type service struct {
	prefix string
	cfg    any
}

// services are listed in the order their defaults are joined ("`:8080` / `:8081` / ...").
var services = []service{{"ORDER_", order.Config{}}, {"INVENTORY_", inventory.Config{}}, {"PAYMENT_", payment.Config{}}}

// sections returns the tables of each README, by path.
func sections() (map[string][]section, error) {
	coord, err := conf.Fields(coordinator.Config{})
	if err != nil {
		return nil, err
	}
	shared, common, own, err := serviceTables()
	if err != nil {
		return nil, err
	}
	svc := []section{{"services-shared", conf.Table(shared)}, {"services", conf.Table(common)}}
	for _, s := range services {
		if rows := own[s.prefix]; len(rows) > 0 {
			svc = append(svc, section{strings.ToLower(strings.TrimSuffix(s.prefix, "_")), conf.Table(rows)})
		}
	}
	return map[string][]section{
		"coordinator/README.md": {{"coordinator", conf.Table(coord)}},
		"services/README.md":    svc,
	}, nil
}

// serviceTables splits the services' variables into those they share by name (TCC_...),
// those every service has under its own prefix (shown as <S>_..., defaults joined when
// they differ), and those of one service only (by prefix). A variable of two services
// out of three, or documented differently by two services, is an error: the tables
// could not say it.
func serviceTables() (shared, common []conf.Field, own map[string][]conf.Field, err error) {
	type seen struct {
		field    conf.Field
		defaults []string
		by       []string // prefixes of the services that have it
	}
	rows := map[string]*seen{}
	var order []string
	for _, s := range services {
		fs, err := conf.Fields(s.cfg)
		if err != nil {
			return nil, nil, nil, err
		}
		for _, f := range fs {
			key := f.Key
			if !f.NoPrefix {
				key = "<S>_" + strings.TrimPrefix(f.Key, s.prefix)
			}
			r, ok := rows[key]
			if !ok {
				r = &seen{field: f}
				rows[key] = r
				order = append(order, key)
			} else if r.field.Desc != f.Desc || r.field.DocDefault != f.DocDefault || r.field.NoPrefix != f.NoPrefix {
				return nil, nil, nil, fmt.Errorf("%s: %s and %s document it differently", key, r.by[0], s.prefix)
			}
			r.by = append(r.by, s.prefix)
			r.defaults = append(r.defaults, f.Default)
		}
	}
	own = map[string][]conf.Field{}
	for _, key := range order {
		r := rows[key]
		switch {
		case len(r.by) == 1:
			own[r.by[0]] = append(own[r.by[0]], r.field)
		case len(r.by) != len(services):
			return nil, nil, nil, fmt.Errorf("%s: only %v have it", key, r.by)
		case r.field.NoPrefix:
			shared = append(shared, r.field)
		default:
			f := r.field
			f.Key = key
			if slices.ContainsFunc(r.defaults, func(d string) bool { return d != r.defaults[0] }) {
				f.DocDefault = "'" + strings.Join(r.defaults, "' / '") + "'"
			}
			common = append(common, f)
		}
	}
	return shared, common, own, nil
}
