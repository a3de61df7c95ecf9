package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
)

// KeyError reports a bad setting; its message starts with the setting's TOML key.
type KeyError struct {
	Key string // TOML key, e.g. "image.pull_timeout" or `registries."gcr.io".mirrors[0]`
	Err error  // what is wrong with it
}

// Error returns "key: problem".
func (e *KeyError) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns the underlying problem.
func (e *KeyError) Unwrap() error { return e.Err }

// ErrUnknownKey is wrapped by the error for a key that the file has and Config does not.
var ErrUnknownKey = errors.New("unknown key")

// Load reads the TOML file at path over Default(), then validates the result.
// Unknown keys, values of the wrong type and invalid values are errors that
// name the key: `config /etc/cri-shim/config.toml: unknown key "cni.bin_dir"`.
func Load(path string) (*Config, error) {
	if path == "" {
		return nil, errors.New("config: no file path given")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// LoadOptional is Load, except that a file that does not exist gives Default().
// The daemon uses it for DefaultPath, which need not exist.
func LoadOptional(path string) (*Config, error) {
	c, err := Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Default(), nil
	}
	return c, err
}

// Parse is Load for file contents already read: data overlays Default() and
// the result is validated. Errors name the key but not the file.
func Parse(data []byte) (*Config, error) {
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := checkTypes(md, raw); err != nil {
		return nil, err
	}
	c := Default()
	md, err = toml.Decode(string(data), c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) && pe.LastKey != "" {
			// A value the field's UnmarshalText or range check refused.
			return nil, &KeyError{Key: pe.LastKey, Err: errors.New(pe.Message)}
		}
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := unknownKeys(md); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// unknownKeys reports the keys the decoder did not use, outermost only: an
// unknown table is reported without the keys inside it.
func unknownKeys(md toml.MetaData) error {
	var unknown []string
	reported := map[string]bool{}
	for _, k := range md.Undecoded() {
		if hasReportedAncestor(reported, k) {
			continue
		}
		reported[k.String()] = true
		unknown = append(unknown, k.String())
	}
	switch len(unknown) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%w %q", ErrUnknownKey, unknown[0])
	default:
		return fmt.Errorf("%w %q (and %d more)", ErrUnknownKey, unknown[0], len(unknown)-1)
	}
}

// hasReportedAncestor reports whether a table enclosing k was already reported.
func hasReportedAncestor(reported map[string]bool, k toml.Key) bool {
	for i := 1; i < len(k); i++ {
		if reported[k[:i].String()] {
			return true
		}
	}
	return false
}

var durationType = reflect.TypeFor[Duration]()

// checkTypes compares the TOML type of every known key in the file with its
// Go field, so that a mismatch is reported as "key: want ..., got ..." rather
// than by the decoder's generic message. Unknown keys are left to unknownKeys.
func checkTypes(md toml.MetaData, raw map[string]any) error {
	for _, k := range md.Keys() {
		t, ok := fieldType(k)
		if !ok {
			continue
		}
		v, ok := lookup(raw, k)
		if !ok {
			continue
		}
		if want, ok := typeMatches(t, v); !ok {
			return &KeyError{Key: k.String(), Err: fmt.Errorf("want %s, got %s", want, describe(v))}
		}
	}
	return nil
}

// fieldType returns the Go type that key k decodes into, if Config has it.
func fieldType(k toml.Key) (reflect.Type, bool) {
	t := reflect.TypeFor[Config]()
	for _, seg := range k {
		if t == durationType {
			return nil, false
		}
		switch t.Kind() {
		case reflect.Struct:
			found := false
			for i := range t.NumField() {
				f := t.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
				if name == seg {
					t, found = f.Type, true
					break
				}
			}
			if !found {
				return nil, false
			}
		case reflect.Map:
			t = t.Elem()
		default:
			return nil, false
		}
	}
	return t, true
}

// lookup finds the raw value of key k in the decoded document.
func lookup(raw map[string]any, k toml.Key) (any, bool) {
	var v any = raw
	for _, seg := range k {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return v, true
}

// typeMatches reports whether raw TOML value v fits Go type t, and if not,
// what t wants in words.
func typeMatches(t reflect.Type, v any) (string, bool) {
	if t == durationType {
		_, ok := v.(string)
		return `a duration string such as "30s"`, ok
	}
	switch t.Kind() {
	case reflect.String:
		_, ok := v.(string)
		return "a string", ok
	case reflect.Int, reflect.Int64:
		_, ok := v.(int64)
		return "an integer", ok
	case reflect.Bool:
		_, ok := v.(bool)
		return "true or false", ok
	case reflect.Slice:
		want := "an array of strings"
		a, ok := v.([]any)
		if !ok {
			return want, false
		}
		for _, e := range a {
			if _, ok := e.(string); !ok {
				return want, false
			}
		}
		return want, true
	case reflect.Struct, reflect.Map:
		_, ok := v.(map[string]any)
		return "a table", ok
	}
	return t.String(), true
}

// describe names a raw TOML value for an error message.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case int64, float64, bool:
		return fmt.Sprint(v)
	case []any:
		for _, e := range v {
			if _, ok := e.(string); !ok {
				return "an array holding " + describe(e)
			}
		}
		return "an array"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	default:
		return "a date-time"
	}
}
