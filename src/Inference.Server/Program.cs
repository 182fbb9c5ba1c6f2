using Inference.Server.Hosting;

// "admin ...": one tenant or key operation on the database, without the web host or the bus (docs/admin.md).
if (args is ["admin", .. var adminArgs])
    return await AdminCommand.RunAsync(adminArgs, configuration: null, Console.Out, Console.Error);

var builder = WebApplication.CreateBuilder(args);
builder.Configuration.AddCommandLine(args, ServerRolesConfiguration.CommandLineSwitches.ToDictionary());
builder.AddInferencePlatform();

var app = builder.Build();
await app.PrepareInferencePlatformAsync();
app.MapInferencePlatform();
await app.RunAsync();
return 0;
