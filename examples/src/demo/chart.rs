//! The chart: success rate and p99 latency per second, both clients, the dark window shaded.

use std::path::Path;

use bulwark_policy::BoxError;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::report::{ClientReport, Report};

const BARE: RGBColor = RGBColor(214, 96, 39);
const BULWARK: RGBColor = RGBColor(33, 102, 172);
const DARK: RGBColor = RGBColor(120, 120, 120);

fn boxed<E: std::fmt::Display>(err: E) -> BoxError {
    err.to_string().into()
}

/// Points at the middle of each second.
fn series(client: &ClientReport, value: impl Fn(usize) -> f64) -> Vec<(f64, f64)> {
    (0..client.seconds.len())
        .map(|i| (i as f64 + 0.5, value(i)))
        .collect()
}

impl Report {
    /// Draws success rate (top) and p99 latency (bottom) per second for both clients as an
    /// SVG at `path`, with the dark replica's outage shaded.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulwark_examples::demo::{ClientReport, Report, Scenario, Second};
    ///
    /// let second = Second { requests: 10, ok: 9, p99: Duration::from_millis(5) };
    /// let client = ClientReport { seconds: vec![second; 2], ..Default::default() };
    /// let report = Report {
    ///     scenario: Scenario::new(1, Duration::from_secs(2), 10),
    ///     bare: client.clone(),
    ///     bulwark: client,
    ///     ..Default::default()
    /// };
    /// let path = std::env::temp_dir().join("bulwark-demo-doc.svg");
    /// report.write_chart(&path).unwrap();
    /// assert!(std::fs::read_to_string(&path).unwrap().starts_with("<svg"));
    /// ```
    pub fn write_chart(&self, path: &Path) -> Result<(), BoxError> {
        let root = SVGBackend::new(path, (960, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(boxed)?;
        let (top, bottom) = root.split_vertically(320);
        self.success_panel(&top)?;
        self.latency_panel(&bottom)?;
        root.present().map_err(boxed)?;
        Ok(())
    }

    fn dark_window(&self) -> (f64, f64) {
        (
            self.scenario.dark_from().as_secs_f64(),
            self.scenario.dark_until().as_secs_f64(),
        )
    }

    fn success_panel(&self, area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), BoxError> {
        let seconds = self.bare.seconds.len().max(1) as f64;
        let lowest = [&self.bare, &self.bulwark]
            .iter()
            .flat_map(|c| c.seconds.iter().map(|s| s.success_percent()))
            .fold(100.0_f64, f64::min);
        let floor = ((lowest - 5.0) / 10.0).floor().clamp(0.0, 9.0) * 10.0;
        let mut chart = ChartBuilder::on(area)
            .caption(
                "Requests answered 2xx by a replica, per second",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..seconds, floor..100.5)
            .map_err(boxed)?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("success %")
            .max_light_lines(0)
            .draw()
            .map_err(boxed)?;
        let (from, until) = self.dark_window();
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(from, floor), (until, 100.5)],
                DARK.mix(0.15).filled(),
            )))
            .map_err(boxed)?
            .label("replica `dark` is dark")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], DARK.mix(0.3).filled()));
        for (client, color, name) in [
            (&self.bare, BARE, "bare hyper-util client"),
            (&self.bulwark, BULWARK, "bulwark client"),
        ] {
            let points = series(client, |i| client.seconds[i].success_percent());
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(boxed)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(boxed)?;
        Ok(())
    }

    fn latency_panel(&self, area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), BoxError> {
        let seconds = self.bare.seconds.len().max(1) as f64;
        let ms = |c: &ClientReport, i: usize| c.seconds[i].p99.as_secs_f64() * 1000.0;
        let highest = [&self.bare, &self.bulwark]
            .iter()
            .flat_map(|c| (0..c.seconds.len()).map(move |i| ms(c, i)))
            .fold(10.0_f64, f64::max);
        let top = (highest * 1.1 / 100.0).ceil() * 100.0;
        let mut chart = ChartBuilder::on(area)
            .caption("p99 latency per second", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..seconds, 0.0..top)
            .map_err(boxed)?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("p99 (ms)")
            .max_light_lines(0)
            .draw()
            .map_err(boxed)?;
        let (from, until) = self.dark_window();
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(from, 0.0), (until, top)],
                DARK.mix(0.15).filled(),
            )))
            .map_err(boxed)?;
        for (client, color) in [(&self.bare, BARE), (&self.bulwark, BULWARK)] {
            let points = series(client, |i| ms(client, i));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(boxed)?;
        }
        Ok(())
    }
}
