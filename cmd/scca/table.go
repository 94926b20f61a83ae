package main

import (
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/mattn/go-runewidth"
	"golang.org/x/term"

	"github.com/securechat/scca/chat"
)

// column is one column of a human table. Columns with a higher drop number
// go first when the table is wider than the terminal; the one shrink column
// (free text: a CN, audit details) is cut with an ellipsis before any
// column with a drop number of 0 would have to go.
type column struct {
	name   string
	drop   int  // 0: never dropped
	shrink bool // may be shortened to minShrink display cells
}

const minShrink = 12

// tableStyle says how wide a table may be and how to draw it.
type tableStyle struct {
	width     int  // display cells; 0 = no limit (--wide)
	noHeaders bool // --no-headers
	ascii     bool // plain ASCII: not a terminal
}

// tableStyle chooses the width: --wide is unlimited; otherwise the
// terminal's width, else $COLUMNS, else 80.
func (e *env) tableStyle() tableStyle { return e.tableStyleFor(e.stdout) }

// tableStyleFor is tableStyle for a table written to w.
func (e *env) tableStyleFor(w io.Writer) tableStyle {
	s := tableStyle{noHeaders: e.v.GetBool("no-headers"), width: 80, ascii: true}
	f, isFile := w.(*os.File)
	tty := isFile && term.IsTerminal(int(f.Fd()))
	if tty {
		s.ascii = false
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			s.width = w
		}
	} else if c, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && c > 0 {
		s.width = c
	}
	if e.v.GetBool("wide") {
		s.width = 0
	}
	return s
}

const colGap = 2

// renderFitted writes rows as space-aligned columns (no borders), dropping
// and shortening columns until the table fits the style's width. Cells are
// made inert (control and bidi characters escaped). The table's own marks are
// plain ASCII when not writing to a terminal ("~" for a shortened cell);
// names keep their letters, so grep finds them.
func renderFitted(w io.Writer, cols []column, rows [][]string, st tableStyle) error {
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = strings.ToUpper(c.name)
	}
	cells := make([][]string, len(rows))
	for r, row := range rows {
		cells[r] = make([]string, len(cols))
		for i := range cols {
			cells[r][i] = chat.EscapeLine(row[i])
		}
	}
	keep, widths := fitColumns(cols, header, cells, st)
	fit := func(row []string) []string {
		out := make([]string, len(keep))
		for i, c := range keep {
			out[i] = truncateCells(row[c], widths[i], st.ascii)
		}
		return out
	}
	// tablewriter lays the fitted cells out: no borders or rules, columns
	// left-aligned and colGap apart, no formatting or wrapping of its own
	// (the cells are already escaped and shortened to the widths).
	pad := make([]tw.Padding, len(keep))
	for i := range pad {
		pad[i] = tw.Padding{Right: strings.Repeat(" ", colGap), Overwrite: true}
	}
	if len(pad) > 0 {
		pad[len(pad)-1] = tw.Padding{Overwrite: true}
	}
	cell := tw.CellConfig{
		Formatting: tw.CellFormatting{AutoWrap: tw.WrapNone, AutoFormat: tw.Off},
		Padding:    tw.CellPadding{Global: tw.Padding{Overwrite: true}, PerColumn: pad},
		Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
	}
	var buf strings.Builder
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Lines: tw.LinesNone, Separators: tw.SeparatorsNone},
		})),
		tablewriter.WithConfig(tablewriter.Config{Header: cell, Row: cell}),
		tablewriter.WithTrimSpace(tw.Off),
	)
	if !st.noHeaders {
		t.Header(fit(header))
	}
	for _, row := range cells {
		if err := t.Append(fit(row)); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// fitColumns picks the columns to show, in their order, and their widths.
func fitColumns(cols []column, header []string, cells [][]string, st tableStyle) ([]int, []int) {
	natural := make([]int, len(cols))
	for i := range cols {
		if !st.noHeaders {
			natural[i] = runewidth.StringWidth(header[i])
		}
		for _, row := range cells {
			natural[i] = max(natural[i], runewidth.StringWidth(row[i]))
		}
	}
	shown := make([]bool, len(cols))
	for i := range shown {
		shown[i] = true
	}
	for {
		keep, widths, total := []int{}, []int{}, 0
		shrinkAt := -1
		for i, ok := range shown {
			if !ok {
				continue
			}
			if len(keep) > 0 {
				total += colGap
			}
			if cols[i].shrink {
				shrinkAt = len(keep)
			}
			keep, widths = append(keep, i), append(widths, natural[i])
			total += natural[i]
		}
		if st.width <= 0 || total <= st.width {
			return keep, widths
		}
		excess := total - st.width
		if shrinkAt >= 0 && widths[shrinkAt]-excess >= minShrink {
			widths[shrinkAt] -= excess
			return keep, widths
		}
		drop := -1
		for i, ok := range shown {
			if ok && cols[i].drop > 0 && (drop < 0 || cols[i].drop > cols[drop].drop) {
				drop = i
			}
		}
		if drop < 0 { // only essential columns left: shorten what can be
			if shrinkAt >= 0 {
				widths[shrinkAt] = max(minShrink, widths[shrinkAt]-excess)
			}
			return keep, widths
		}
		shown[drop] = false
	}
}

// truncateCells cuts s to at most n display cells, ending in an ellipsis.
func truncateCells(s string, n int, ascii bool) string {
	if runewidth.StringWidth(s) <= n {
		return s
	}
	tail := "…"
	if ascii {
		tail = "~"
	}
	return runewidth.Truncate(s, n, tail)
}
