package sqlchange

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// SavedRows holds what Rewind read for one statement of a change so that
// the statement can be undone: for an UPDATE or DELETE, the rows it touched
// as they were just before it ran (the before image); for an INSERT, the
// primary keys of the rows it added (Columns are then the key columns).
type SavedRows struct {
	// Statement is the index of the statement in the change (0-based).
	Statement int `json:"statement"`
	// Kind is KindUpdate, KindDelete or KindInsert.
	Kind       Kind      `json:"kind"`
	Table      TableName `json:"table"`
	Columns    []Column  `json:"columns"`
	PrimaryKey []string  `json:"primaryKey"`
	Rows       []Row     `json:"rows"`
	// Gap says what the statement changed that these rows do not cover
	// (rows changed through cascading foreign keys); empty when none.
	Gap string `json:"gap,omitempty"`
}

// Column is one saved column: its name and its type as the database shows it.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Row is one saved row, a value per column. A value is nil (NULL), a
// string (the database's own text for the value: numbers, decimals, dates,
// timestamps, JSON and text alike), []byte (binary columns), or, on SQLite,
// whose values carry their own type, int64 or float64.
type Row []any

// keyIndex returns the positions of the primary key columns in Columns.
func (s *SavedRows) keyIndex() ([]int, error) {
	idx := make([]int, len(s.PrimaryKey))
	for i, k := range s.PrimaryKey {
		idx[i] = -1
		for j, c := range s.Columns {
			if c.Name == k {
				idx[i] = j
			}
		}
		if idx[i] < 0 {
			return nil, fmt.Errorf("saved rows of statement %d: key column %q is not among the saved columns", s.Statement+1, k)
		}
	}
	if len(idx) == 0 {
		return nil, fmt.Errorf("saved rows of statement %d: no primary key", s.Statement+1)
	}
	return idx, nil
}

// MarshalJSON writes the row as a JSON array: null, a string, an integer,
// {"f":"1.5"} for a float, {"b":"base64"} for bytes and {"s":"base64"} for
// text that is not UTF-8.
func (r Row) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 16*len(r))
	b = append(b, '[')
	for i, v := range r {
		if i > 0 {
			b = append(b, ',')
		}
		switch x := v.(type) {
		case nil:
			b = append(b, "null"...)
		case string:
			if !utf8.ValidString(x) {
				b = append(b, `{"s":"`...)
				b = base64.StdEncoding.AppendEncode(b, []byte(x))
				b = append(b, `"}`...)
				continue
			}
			b = appendJSONString(b, x)
		case int64:
			b = strconv.AppendInt(b, x, 10)
		case float64:
			b = append(b, `{"f":"`...)
			b = strconv.AppendFloat(b, x, 'g', -1, 64)
			b = append(b, `"}`...)
		case []byte:
			b = append(b, `{"b":"`...)
			b = base64.StdEncoding.AppendEncode(b, x)
			b = append(b, `"}`...)
		default:
			return nil, fmt.Errorf("saved value of type %T cannot be encoded", v)
		}
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads a row written by MarshalJSON.
func (r *Row) UnmarshalJSON(data []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	row := make(Row, len(raw))
	for i, m := range raw {
		v, err := decodeValue(m)
		if err != nil {
			return fmt.Errorf("value %d: %w", i+1, err)
		}
		row[i] = v
	}
	*r = row
	return nil
}

func decodeValue(m json.RawMessage) (any, error) {
	if len(m) == 0 {
		return nil, errors.New("empty value")
	}
	switch m[0] {
	case 'n':
		return nil, nil
	case '"':
		var s string
		err := json.Unmarshal(m, &s)
		return s, err
	case '{':
		var o struct {
			F *string `json:"f"`
			B *string `json:"b"`
			S *string `json:"s"`
		}
		if err := json.Unmarshal(m, &o); err != nil {
			return nil, err
		}
		switch {
		case o.F != nil:
			return strconv.ParseFloat(*o.F, 64)
		case o.B != nil:
			return base64.StdEncoding.DecodeString(*o.B)
		case o.S != nil:
			b, err := base64.StdEncoding.DecodeString(*o.S)
			return string(b), err
		}
		return nil, errors.New("unknown tagged value")
	default:
		return strconv.ParseInt(string(m), 10, 64)
	}
}

const hexDigits = "0123456789abcdef"

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// savedFile is the encoded form of saved rows.
type savedFile struct {
	Version int         `json:"version"`
	Saved   []SavedRows `json:"saved"`
}

// EncodeSaved turns saved rows into compact bytes (gzip-compressed JSON)
// for storing beside the version of the database; DecodeSaved reverses it.
// NULLs, bytes, floats and the exact text of every other value (even text
// that is not UTF-8) survive.
func EncodeSaved(saved []SavedRows) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, fmt.Errorf("encode saved rows: %w", err)
	}
	if err := json.NewEncoder(zw).Encode(savedFile{Version: 1, Saved: saved}); err != nil {
		return nil, fmt.Errorf("encode saved rows: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("encode saved rows: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodeSaved reads saved rows written by EncodeSaved.
func DecodeSaved(data []byte) ([]SavedRows, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode saved rows: %w", err)
	}
	defer zr.Close()
	plain, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decode saved rows: %w", err)
	}
	var f savedFile
	if err := json.Unmarshal(plain, &f); err != nil {
		return nil, fmt.Errorf("decode saved rows: %w", err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("decode saved rows: unknown version %d", f.Version)
	}
	return f.Saved, nil
}
