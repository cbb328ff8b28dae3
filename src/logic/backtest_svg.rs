//! `backtest --svg`: one hand-written SVG a person can read at a glance.
//! Top: the realised return, the model's and the prior's forecasts over
//! time. Bottom: the cumulative reputer-CZAR loss of the model and of the
//! prior minus the zero forecast's (below the line: better than zero).
//!
//! Pure: a `Report` in, the SVG text out.

use crate::logic::backtest::{Point, Report};
use crate::logic::bars::format_time;
use crate::logic::scoring::Czar;

const W: f64 = 960.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 930.0;
const TRUTH: &str = "#222222";
const MODEL: &str = "#1f77b4";
const PRIOR: &str = "#e6550d";

/// A plot panel: its vertical extent and value range.
struct Panel {
    top: f64,
    bottom: f64,
    lo: f64,
    hi: f64,
}

impl Panel {
    fn new(top: f64, bottom: f64, values: &[f64]) -> Panel {
        let (mut lo, mut hi) = values
            .iter()
            .filter(|v| v.is_finite())
            .fold((0.0f64, 0.0f64), |(a, b), v| (a.min(*v), b.max(*v)));
        if hi - lo < 1e-12 {
            (lo, hi) = (lo - 1.0, hi + 1.0);
        }
        let pad = 0.05 * (hi - lo);
        Panel {
            top,
            bottom,
            lo: lo - pad,
            hi: hi + pad,
        }
    }

    fn y(&self, v: f64) -> f64 {
        self.bottom - (v - self.lo) / (self.hi - self.lo) * (self.bottom - self.top)
    }

    fn line(&self, values: &[f64], color: &str, width: f64) -> String {
        let n = values.len().max(2) as f64 - 1.0;
        let pts: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                format!(
                    "{:.1},{:.1}",
                    LEFT + (RIGHT - LEFT) * i as f64 / n,
                    self.y(*v)
                )
            })
            .collect();
        format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"{width}\" points=\"{}\"/>\n",
            pts.join(" ")
        )
    }

    fn frame(&self, title: &str, fmt: &dyn Fn(f64) -> String) -> String {
        let mut s = format!(
            "<rect x=\"{LEFT}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#fafafa\" stroke=\"#999\"/>\n\
             <text x=\"{LEFT}\" y=\"{}\" font-size=\"14\" font-weight=\"bold\">{title}</text>\n",
            self.top,
            RIGHT - LEFT,
            self.bottom - self.top,
            self.top - 8.0
        );
        let zero = self.y(0.0);
        s.push_str(&format!(
            "<line x1=\"{LEFT}\" y1=\"{zero:.1}\" x2=\"{RIGHT}\" y2=\"{zero:.1}\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\n"
        ));
        for v in [self.lo, 0.0, self.hi] {
            s.push_str(&format!(
                "<text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>\n",
                LEFT - 6.0,
                self.y(v) + 4.0,
                fmt(v)
            ));
        }
        s
    }
}

fn cumulative_vs_zero(points: &[Point], f: fn(&Point) -> f64) -> Vec<f64> {
    let mut acc = 0.0;
    points
        .iter()
        .map(|p| {
            acc +=
                Czar::REPUTER.loss(p.truth, f(p), p.std) - Czar::REPUTER.loss(p.truth, 0.0, p.std);
            acc
        })
        .collect()
}

fn legend(x: f64, y: f64, items: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (i, (name, color)) in items.iter().enumerate() {
        let xi = x + 190.0 * i as f64;
        s.push_str(&format!(
            "<line x1=\"{xi}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{color}\" stroke-width=\"3\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\">{name}</text>\n",
            xi + 24.0,
            xi + 30.0,
            y + 4.0
        ));
    }
    s
}

/// The whole picture.
pub fn render(r: &Report) -> String {
    let col = |f: fn(&Point) -> f64| r.points.iter().map(f).collect::<Vec<f64>>();
    let (truth, model, prior) = (col(|p| p.truth), col(|p| p.model), col(|p| p.prior));
    let all: Vec<f64> = truth.iter().chain(&model).chain(&prior).copied().collect();
    let top = Panel::new(60.0, 330.0, &all);
    let cm = cumulative_vs_zero(&r.points, |p| p.model);
    let cp = cumulative_vs_zero(&r.points, |p| p.prior);
    let both: Vec<f64> = cm.iter().chain(&cp).copied().collect();
    let bottom = Panel::new(400.0, 600.0, &both);
    let pct = |v: f64| format!("{:+.1} %", 100.0 * v);
    let raw = |v: f64| format!("{v:+.2}");
    let span = |p: Option<&Point>| p.map(|p| format_time(p.t)).unwrap_or_default();
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"660\" viewBox=\"0 0 {W} 660\" font-family=\"sans-serif\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"24\" font-size=\"16\" font-weight=\"bold\">Walk-forward backtest: {} points every {} h, {} h log return</text>\n",
        r.points.len(),
        r.setup.step_hours,
        r.setup.spans.horizon
    );
    s.push_str(&top.frame("forecast vs realised log return", &pct));
    s.push_str(&top.line(&truth, TRUTH, 1.5));
    s.push_str(&top.line(&prior, PRIOR, 2.0));
    s.push_str(&top.line(&model, MODEL, 2.0));
    s.push_str(&legend(
        LEFT + 10.0,
        350.0,
        &[("realised", TRUTH), ("model", MODEL), ("prior R1", PRIOR)],
    ));
    s.push_str(&bottom.frame(
        "cumulative CZAR loss minus zero's (below 0: better than zero)",
        &raw,
    ));
    s.push_str(&bottom.line(&cp, PRIOR, 2.0));
    s.push_str(&bottom.line(&cm, MODEL, 2.0));
    s.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"625\" font-size=\"11\">{}</text>\n\
         <text x=\"{RIGHT}\" y=\"625\" font-size=\"11\" text-anchor=\"end\">{}</text>\n</svg>\n",
        span(r.points.first()),
        span(r.points.last())
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_map_values_inside_their_frame() {
        let p = Panel::new(10.0, 110.0, &[-1.0, 3.0]);
        assert!(p.y(3.0) > 10.0 && p.y(3.0) < 20.0);
        assert!(p.y(-1.0) < 110.0 && p.y(-1.0) > 100.0);
        let flat = Panel::new(0.0, 100.0, &[0.0, 0.0]);
        assert!((flat.y(0.0) - 50.0).abs() < 1e-9);
        assert!(flat
            .line(&[0.0, 0.0], "#000", 1.0)
            .contains("points=\"80.0,50.0 930.0,50.0\""));
    }
}
