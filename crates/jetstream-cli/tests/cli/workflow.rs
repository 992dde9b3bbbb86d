//! The container commands of the reference's Argo workflow (`fixtures/jetstream/run.yaml`),
//! shared by the parser's unit tests and the end-to-end tests.

/// Every `command: [...]` list of `yaml`, its placeholders `{{name}}` filled from `fill` (as
/// the reference's `apply_parameters` and Argo fill them).
pub(crate) fn workflow_commands(yaml: &str, fill: &[(&str, &str)]) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut rest = yaml;
    while let Some(start) = rest.find("command: [") {
        let body = &rest[start + "command: [".len()..];
        let end = body.find(']').expect("closing bracket");
        let mut words: Vec<String> = body[..end]
            .split(',')
            .map(|w| w.trim().trim_matches('"').to_string())
            .filter(|w| !w.is_empty())
            .collect();
        for w in &mut words {
            for (k, v) in fill {
                *w = w.replace(&format!("{{{{{k}}}}}"), v);
            }
        }
        commands.push(words);
        rest = &body[end..];
    }
    commands
}
