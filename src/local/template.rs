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
            let end = rest.find("}}").map_or(rest.len().min(40), |e| e + 2);
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
    fn unfilled_placeholder_is_an_error() {
        let err = render("port={{port}}", &[("x", "1".into())]).unwrap_err();
        assert!(err.contains("{{port}}"), "{err}");
    }
}
