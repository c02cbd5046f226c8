package conf

import (
	"fmt"
	"strings"
)

// Table renders fields as a README configuration table (variable, default, meaning),
// one row per field, in order, ending with a newline. The default column shows
// DocDefault when set, else Default as code, else "—"; in DocDefault and Desc, 'x' is
// rendered as code, ’ as an apostrophe, and "|" is escaped.
func Table(fields []Field) string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n| --- | --- | --- |\n")
	for _, f := range fields {
		def := "—"
		switch {
		case f.DocDefault != "":
			def = markdown(f.DocDefault)
		case f.Default != "":
			def = "`" + f.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Key, def, markdown(f.Desc))
	}
	return b.String()
}

// markdown turns the tag convention into Markdown for a table cell: 'x' is code, and ’
// (the apostrophe of a tag) is an apostrophe.
func markdown(s string) string {
	return strings.NewReplacer("'", "`", "’", "'", "|", `\|`).Replace(s)
}

// Section markers: a generated table sits between these two lines of a README.
const (
	beginMarker = "<!-- config:%s begin -->\n"
	endMarker   = "<!-- config:%s end -->"
)

// ReplaceSection returns doc with what lies between the markers of section name
// replaced by body, set off by blank lines. It fails unless both markers are there, once
// each, in order.
func ReplaceSection(doc, name, body string) (string, error) {
	begin, end := fmt.Sprintf(beginMarker, name), fmt.Sprintf(endMarker, name)
	if strings.Count(doc, begin) != 1 || strings.Count(doc, end) != 1 {
		return "", fmt.Errorf("conf: section %q: want each of %q and %q exactly once", name, strings.TrimSpace(begin), end)
	}
	i, j := strings.Index(doc, begin)+len(begin), strings.Index(doc, end)
	if j < i {
		return "", fmt.Errorf("conf: section %q: its end marker comes before its begin marker", name)
	}
	return doc[:i] + "\n" + body + "\n" + doc[j:], nil
}
