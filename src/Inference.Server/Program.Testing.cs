// The entry point of the top-level statements, made visible to WebApplicationFactory<Program> in the tests.
#pragma warning disable CA1515 // Tests need the type public.
public partial class Program;
