package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"
)

// --format, as docker's: a Go text/template applied to each object, with
// docker's functions, and three directives:
//
//	table            the command's default table
//	table TEMPLATE   TEMPLATE per row, aligned, under a header
//	json             each object as one line of JSON
//
// "\t" and "\n" written as two characters in TEMPLATE are a tab and a
// newline, so that a shell's single quotes need no $'…'.

// templateFuncs are docker's template functions.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":  strings.Join,
	"split": strings.Split,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"title": func(s string) string {
		r, n := utf8.DecodeRuneInString(s)
		if n == 0 {
			return s
		}
		return string(unicode.ToUpper(r)) + s[n:]
	},
	"truncate": func(s string, n int) string {
		if r := []rune(s); len(r) > n && n >= 0 {
			return string(r[:n])
		}
		return s
	},
	"pad": func(s string, left, right int) string {
		return strings.Repeat(" ", max(left, 0)) + s + strings.Repeat(" ", max(right, 0))
	},
}

// parseTemplate parses a --format template.
func parseTemplate(s string) (*template.Template, error) {
	s = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(s)
	t, err := template.New("format").Funcs(templateFuncs).Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, fmt.Errorf("--format: %w", err)
	}
	return t, nil
}

// tableFormat splits a --format into the table directive and its template:
// "table {{.Name}}" is (true, "{{.Name}}"); "table" alone is (true, "").
func tableFormat(format string) (table bool, tmpl string) {
	if format == "table" {
		return true, ""
	}
	if rest, ok := strings.CutPrefix(format, "table "); ok {
		return true, strings.TrimSpace(rest)
	}
	return false, format
}

// printObjects writes objs as format says, each on its own line: "json",
// or a template executed on each object. It is --format of inspect.
func printObjects[T any](w io.Writer, format string, objs []T) error {
	if format == "json" {
		format = "{{json .}}"
	}
	t, err := parseTemplate(format)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := execLine(w, t, o); err != nil {
			return err
		}
	}
	return nil
}

// printRows writes rows as a --format of a listing says (see above): ""
// and "table" use def, a table template; "table TEMPLATE" renders the
// header by executing TEMPLATE on header, whose fields hold the column
// names, as docker does.
func printRows[T any](w io.Writer, format, def string, header T, rows []T) error {
	if format == "" {
		format = def
	}
	if format == "json" {
		return printObjects(w, format, rows)
	}
	table, tmpl := tableFormat(format)
	if table && tmpl == "" {
		_, tmpl = tableFormat(def)
	}
	t, err := parseTemplate(tmpl)
	if err != nil {
		return err
	}
	if !table {
		for _, r := range rows {
			if err := execLine(w, t, r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := newTabWriter(w)
	if err := execLine(tw, t, header); err != nil {
		return err
	}
	for _, r := range rows {
		if err := execLine(tw, t, r); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// execLine executes t on v and ends the line.
func execLine(w io.Writer, t *template.Template, v any) error {
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}
