// Swagger UI over this service's own OpenAPI document. It lives in a file, not inline in
// docs.html, so that the page's Content-Security-Policy can forbid inline scripts.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  // Swagger UI would otherwise send the document to a public validator and show its badge.
  validatorUrl: "none",
});
