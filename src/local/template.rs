//! Rendering the server config templates of `stack/`: `{{name}}` placeholders replaced by
//! values, and a template that still has a placeholder after rendering is an error (so a
//! template and the code filling it cannot drift apart silently).

pub fn render(template: &str, vars: &[(&str, String)]) -> Result<String, String> {
    let mut out = template.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    match out.find("{{") {
        Some(at) => {
            let rest = &out[at..];
            // Without a closing `}}`, show at most 40 bytes, cut on a character boundary
            // (a value may hold any text).
            let end = rest.find("}}").map_or_else(
                || {
                    (0..=rest.len().min(40))
                        .rev()
                        .find(|&i| rest.is_char_boundary(i))
                        .unwrap_or(0)
                },
                |e| e + 2,
            );
            Err(format!(
                "template placeholder {} has no value",
                &rest[..end]
            ))
        }
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn replaces_every_occurrence() {
        let out = render(
            "a={{x}} b={{x}} c={{y}}",
            &[("x", "1".into()), ("y", "2".into())],
        );
        assert_eq!(out.as_deref(), Ok("a=1 b=1 c=2"));
    }

    #[test]
    fn multi_byte_text_around_markers_never_panics() {
        let values = ["é", "日本", "🦀", "x{{é", "{{日本語の値", "}}🦀{{"];
        for value in values {
            let template = "a={{v}} b=日本{{ 🦀 é";
            let err = render(template, &[("v", value.to_string())]).unwrap_err();
            assert!(err.contains("{{"), "{err}");
            let ok = render("é={{v}}🦀", &[("v", value.to_string())]);
            if !value.contains("{{") {
                assert_eq!(ok, Ok(format!("é={value}🦀")));
            }
        }
        // An unclosed marker followed by 40+ bytes of multi-byte text is cut on a boundary.
        let long = format!("{{{{x{}", "é".repeat(30));
        let err = render(&long, &[]).unwrap_err();
        assert!(err.contains("{{xéé"), "{err}");
        for pad in 0..4 {
            let t = format!("{}{{{{{}", "x".repeat(pad), "日本🦀".repeat(10));
            assert!(render(&t, &[]).is_err());
        }
    }

    #[test]
    fn unfilled_placeholder_is_an_error() {
        let err = render("port={{port}}", &[("x", "1".into())]).unwrap_err();
        assert!(err.contains("{{port}}"), "{err}");
    }
}
