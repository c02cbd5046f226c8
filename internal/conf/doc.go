// Package conf is the one configuration loader of the tccsuite binaries: a struct per
// binary declares its environment variables in tags, and this package loads it through
// an injected getenv, lists its variables (for the README tables), and masks its
// secrets for the start-up log.
//
// Tags, on an exported field of a supported type (string, bool, integers, floats,
// time.Duration, []string split on commas, or an encoding.TextUnmarshaler):
//
//	env:"KEY[,noprefix][,secret][,dsn]"  the variable; noprefix: not under the envPrefix of
//	                                     enclosing structs; secret: logged as "***";
//	                                     dsn: logged with its password masked
//	envDefault:"value"                    used when the variable is unset or blank
//	docDefault:"text"                     the default as the README shows it, for a default
//	                                      computed after Load (e.g. from another variable)
//	desc:"text"                           the README's meaning column; 'x' there is code
//	                                      (write an apostrophe as ’: the README shows ')
//
// A struct field without an env tag (embedded or not) is walked into, its envPrefix tag
// prepended to the keys inside; other untagged fields are left alone. The tag names are
// those of github.com/caarlos0/env, which takes an environment map only: the binaries'
// getenv injection (deploy/env_test.go records every variable read through it) needs a
// loader that reads through a function.
package conf
