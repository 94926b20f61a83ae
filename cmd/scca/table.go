package main

import (
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
	out := make([][]string, 0, len(cells)+1)
	if !st.noHeaders {
		out = append(out, fit(header))
	}
	for _, row := range cells {
		out = append(out, fit(row))
	}
	return layout(w, out)
}

// layout writes the fitted cells without borders or rules: columns
// left-aligned, each as wide as its widest cell and colGap apart, trailing
// spaces trimmed. (It replaced a table library whose package initializer
// every scca process paid at start, for this much.)
func layout(w io.Writer, rows [][]string) error {
	var width []int
	for _, row := range rows {
		for i, c := range row {
			if i == len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], runewidth.StringWidth(c))
		}
	}
	var line strings.Builder
	for _, row := range rows {
		line.Reset()
		for i, c := range row {
			line.WriteString(c)
			if i < len(row)-1 {
				line.WriteString(strings.Repeat(" ", width[i]-runewidth.StringWidth(c)+colGap))
			}
		}
		if _, err := io.WriteString(w, strings.TrimRight(line.String(), " ")+"\n"); err != nil {
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
