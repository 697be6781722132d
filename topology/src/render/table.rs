//! A minimal aligned text table: columns padded to their widest cell (by
//! characters, so CJK names stay aligned well enough in a terminal).

/// Rows of cells under a header, rendered with two spaces between columns.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<usize>,
}

impl Table {
    pub fn new(headers: Vec<String>) -> Table {
        Table {
            headers,
            rows: Vec::new(),
            right: Vec::new(),
        }
    }

    /// Columns whose cells are right-aligned (numbers).
    pub fn right_align(&mut self, cols: &[usize]) {
        self.right = cols.to_vec();
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let ncols = self.headers.len();
        let mut width = vec![0usize; ncols];
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            for (i, c) in row.iter().enumerate().take(ncols) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, w) in width.iter().enumerate() {
                let cell = row.get(i).map_or("", String::as_str);
                let pad = w.saturating_sub(cell.chars().count());
                if i > 0 {
                    line.push_str("  ");
                }
                if self.right.contains(&i) {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if i + 1 < ncols {
                        line.push_str(&" ".repeat(pad));
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let mut t = Table::new(vec!["A".into(), "NUM".into(), "Z".into()]);
        t.right_align(&[1]);
        t.row(vec!["long-name".into(), "1.5".into(), "x".into()]);
        t.row(vec!["b".into(), "10.25".into(), "".into()]);
        let s = t.render();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "A            NUM  Z");
        assert_eq!(lines[1], "long-name    1.5  x");
        assert_eq!(lines[2], "b          10.25");
    }
}
