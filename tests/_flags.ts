/** Flag definitions (as the flag API takes them) that more than one test creates. */

/** On for `@example.com` emails, off for everyone else; OpenFeature clients may read it. */
export const NEW_CHECKOUT = {
  codename: "new-checkout",
  is_active: true,
  client_visible: true,
  rules: [{
    conditions: [{ attribute: "email", operator: "ends_with", value: "@example.com" }],
    variant: "on",
  }],
};

/** A client-visible flag with two colours and a default, for a rule to serve from. */
export function buttonColor(rules: unknown[]) {
  return {
    codename: "button-color",
    is_active: true,
    client_visible: true,
    variants: { blue: "#00f", green: "#0f0" },
    default_variant: "blue",
    rules,
  };
}
