using Inference.Server.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.Configuration.AddCommandLine(args, ServerRolesConfiguration.CommandLineSwitches.ToDictionary());
builder.AddInferencePlatform();

var app = builder.Build();
await app.PrepareInferencePlatformAsync();
app.MapInferencePlatform();
await app.RunAsync();
