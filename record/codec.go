package record

import "errors"

// Errors of the codec. A decode error means the payload is damaged (or not
// of the type); callers wrap it with the file and offset.
var (
	ErrMalformed = errors.New("record: malformed payload")
	ErrValue     = errors.New("record: value cannot be stored")
)

// HeaderSize is the size of the RecordHeader that starts every extension
// payload.
const HeaderSize = 24

// SchemaVersion is the RecordHeader schema_version of the layouts in
// docs/FORMAT.md.
const SchemaVersion = 1

// Append appends the payload of r (of r.Type, not BookEvent) to dst. It
// checks what the layout cannot hold (a String over MaxString, Levels over
// MaxLevels, a scale above 18, a negative value in an unsigned field, a
// missing non-nullable field) and returns an error wrapping ErrValue.
func Append(dst []byte, r *Record) ([]byte, error) {
	panic("TODO")
}

// Decode decodes a payload of type t into r, reusing r's buffers. It checks
// everything the layout implies (schema version, record_len equal to the
// payload length, enum codes, signs, scales, lengths) and returns an error
// wrapping ErrMalformed.
func Decode(t *Type, payload []byte, r *Record) error {
	panic("TODO")
}

// AppendJSON appends r as one JSON object (no newline): "local_ts" and
// "exchange_ts" as integer ns, decimals as strings ("-0.00012"), times as
// integer ns, sides and option types as Tardis spells them, strings as JSON
// strings, levels as [["price","amount"],...], absent fields as null.
func AppendJSON(dst []byte, r *Record) []byte {
	panic("TODO")
}
